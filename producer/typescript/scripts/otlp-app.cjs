// An application traced with OpenTelemetry JS, as such applications run: the Node tracer and logger
// providers, their OTLP/HTTP protobuf exporters sending to the Audit Layer API (/v1/traces, /v1/logs), and the
// OpenTelemetry openai instrumentation around the real openai client, capturing message content (which it
// sends as log records). Three calls: plain, streamed, failing. CommonJS, because the instrumentation patches
// `openai` as it is required.
//
//   node scripts/otlp-app.cjs API_URL INGEST_KEY PROVIDER_URL
"use strict";
const { diag, DiagConsoleLogger, DiagLogLevel } = require("@opentelemetry/api");
const { NodeTracerProvider, BatchSpanProcessor } = require("@opentelemetry/sdk-trace-node");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-proto");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const { registerInstrumentations } = require("@opentelemetry/instrumentation");
const { OpenAIInstrumentation } = require("@opentelemetry/instrumentation-openai");
const { logs } = require("@opentelemetry/api-logs");
const { LoggerProvider, BatchLogRecordProcessor } = require("@opentelemetry/sdk-logs");
const { OTLPLogExporter } = require("@opentelemetry/exporter-logs-otlp-proto");

const [apiUrl, key, providerUrl] = process.argv.slice(2);
if (!providerUrl) {
  console.error("usage: node scripts/otlp-app.cjs API_URL INGEST_KEY PROVIDER_URL");
  process.exit(2);
}
const headers = { Authorization: `Bearer ${key}` };
// the exporters' own warnings (a refused or timed-out export) on stderr, where the test shows them
diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
// An export the batch processors send on their timer fails without failing anything the application awaits; the
// test must still tell "the API lost an event" from "the exporter never delivered it", so every result is kept.
const failures = [];
function watched(name, exporter) {
  const send = exporter.export.bind(exporter);
  exporter.export = (items, done) => send(items, (result) => {
    if (result.code !== 0) failures.push(`${name} export of ${items.length} failed: ${result.error}`);
    done(result);
  });
  return exporter;
}
const resource = resourceFromAttributes({ "service.name": "claims-desk" });
const provider = new NodeTracerProvider({
  resource, spanProcessors: [new BatchSpanProcessor(watched("span", new OTLPTraceExporter({ url: `${apiUrl}/v1/traces`, headers })))],
});
provider.register();
const logExporter = watched("log", new OTLPLogExporter({ url: `${apiUrl}/v1/logs`, headers }));
const logger = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: logExporter })] });
logs.setGlobalLoggerProvider(logger);
registerInstrumentations({ instrumentations: [new OpenAIInstrumentation({ captureMessageContent: true })] });
const { OpenAI } = require("openai"); // after the instrumentation is registered, so that it is patched

async function main() {
  const client = new OpenAI({ baseURL: `${providerUrl}/v1`, apiKey: "sk-test", maxRetries: 0 });
  await client.chat.completions.create({
    model: "gpt-4o-mini", temperature: 0.2,
    messages: [{ role: "user", content: "Claim 88: water damage, 2,400 EUR. Pay?" }],
  });
  const stream = await client.chat.completions.create({
    model: "gpt-4o-mini", stream: true, stream_options: { include_usage: true },
    messages: [{ role: "user", content: "Summarise case 7." }],
  });
  for await (const _ of stream) { /* read to the end, as an application does */ }
  const broken = new OpenAI({ baseURL: "http://127.0.0.1:9/v1", apiKey: "sk-test", maxRetries: 0 });
  try {
    await broken.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Anyone?" }] });
  } catch {
    // recorded by the instrumentation as an error span
  }
  await provider.forceFlush();
  await logger.forceFlush();
  await provider.shutdown();
  await logger.shutdown();
  if (failures.length) {
    console.error(failures.join("\n"));
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
