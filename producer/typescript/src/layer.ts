// AuditLayer: configuration, the transport, and the recording of one call (CallRecord), shared by
// the wrappers and the generic collector. Nothing here throws into the application: a bad value
// is logged and counted.
import { homedir } from 'node:os'
import { join } from 'node:path'

import { AvroCodec } from './codec.js'
import { type Action, type AuditEvent, contentDigest, InvalidEventError, jsonValues, makeEvent, newSalt } from './event.js'
import { uuid7 } from './ids.js'
import { log } from './log.js'
import { AuditConfigError } from './errors.js'
import { kafkaSecurityFromEnv } from './kafka-security.js'
import { DiskSpool } from './spool.js'
import { DEFAULT_BUFFER_POLICY, HttpTransport, ingestUrl, type KafkaSettings, KafkaTransport, type Transport, type TransportStats } from './transport.js'

export type CaptureMode = 'full' | 'hashes_only'

export interface AuditConfig {
  /** The organisation; else AUDIT_LAYER_ORG_ID. */
  tenantId?: string
  /** Another name for tenantId (the integration document's). */
  orgId?: string
  /** Kafka brokers; else AUDIT_LAYER_BOOTSTRAP_SERVERS (comma-separated), else 127.0.0.1:9092. */
  brokers?: string[]
  /** Else `${AUDIT_LAYER_TOPIC_PREFIX}audit.events`. */
  topic?: string
  /** With an API key: send to the REST ingest endpoint instead of Kafka (AUDIT_LAYER_ENDPOINT, AUDIT_LAYER_API_KEY). */
  endpoint?: string
  /** The API's base URL, e.g. https://audit.example.com/v1 (with or without /v1); else AUDIT_LAYER_API_URL. */
  apiUrl?: string
  apiKey?: string
  /** false: a wrapped call returns only once its event was delivered (or given up). Default true. */
  asyncLogging?: boolean
  /** The REST transport's request timeout (default 10 s). */
  timeoutMs?: number
  /** Where undelivered events wait on disk (else AUDIT_LAYER_SPOOL_DIR, else ~/.cache/audit-layer/spool);
   *  null: no spool (events undelivered at exit are given up). */
  spoolDir?: string | null
  /** `hashes_only`: the text stays in the process, its salted digests go out. */
  capture?: CaptureMode
  transport?: Transport
  /** kafkajs TLS options; else from AUDIT_LAYER_KAFKA_SECURITY_PROTOCOL and AUDIT_LAYER_KAFKA_SSL_* */
  ssl?: KafkaSettings['ssl']
  /** kafkajs SASL options (OAUTHBEARER's token provider goes here); else from AUDIT_LAYER_KAFKA_SASL_* */
  sasl?: KafkaSettings['sasl']
}

/** Per call (or per wrapped function) audit options. */
export interface AuditOptions {
  tenantId?: string
  userId?: string
  sessionId?: string
  traceId?: string
  spanId?: string
  decisionType?: string
  decisionOutcome?: string
  confidence?: number
  reasoning?: string
  complianceTags?: string[]
  metadata?: Record<string, unknown>
}

export { AuditConfigError }

// One exit hook for every open layer: when the event loop empties, what is buffered gets flushed.
const open = new Set<AuditLayer>()
process.on('beforeExit', () => {
  for (const layer of open) {
    open.delete(layer)
    void layer.close(2_000)
  }
})

export class AuditLayer {
  readonly tenantId: string
  readonly capture: CaptureMode
  readonly transport: Transport
  readonly asyncLogging: boolean
  private readonly codec: AvroCodec

  constructor(config: AuditConfig = {}, env: NodeJS.ProcessEnv = process.env) {
    if (config.tenantId && config.orgId && config.tenantId !== config.orgId) {
      throw new AuditConfigError('tenantId and orgId name one thing: give one')
    }
    const tenant = config.tenantId ?? config.orgId ?? env.AUDIT_LAYER_ORG_ID
    if (!tenant) throw new AuditConfigError('AuditLayer needs tenantId (or orgId) or AUDIT_LAYER_ORG_ID in the environment')
    this.tenantId = tenant
    const capture = config.capture ?? env.AUDIT_LAYER_CAPTURE ?? 'full'
    if (capture !== 'full' && capture !== 'hashes_only') {
      throw new AuditConfigError(`AUDIT_LAYER_CAPTURE=${JSON.stringify(capture)}: use full or hashes_only`)
    }
    this.capture = capture
    this.codec = new AvroCodec()
    const endpoint = config.endpoint ?? config.apiUrl ?? env.AUDIT_LAYER_API_URL ?? env.AUDIT_LAYER_ENDPOINT
    const apiKey = config.apiKey ?? env.AUDIT_LAYER_API_KEY
    if (endpoint && !apiKey) throw new AuditConfigError('an API URL is set: AUDIT_LAYER_API_KEY (al_sk_...) is needed too')
    this.asyncLogging = config.asyncLogging !== false
    const spoolRoot = config.spoolDir === null ? null
      : config.spoolDir ?? env.AUDIT_LAYER_SPOOL_DIR ?? join(homedir(), '.cache', 'audit-layer', 'spool')
    if (config.transport) {
      this.transport = config.transport
    } else if (endpoint && apiKey) {
      const spool = spoolRoot ? new DiskSpool(spoolRoot, 'http', ingestUrl(endpoint), tenant) : null
      this.transport = new HttpTransport({ endpoint, apiKey, timeoutMs: config.timeoutMs }, DEFAULT_BUFFER_POLICY, spool)
    } else {
      const brokers = config.brokers ?? (env.AUDIT_LAYER_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim())
      const topic = config.topic ?? `${env.AUDIT_LAYER_TOPIC_PREFIX ?? ''}audit.events`
      const spool = spoolRoot ? new DiskSpool(spoolRoot, 'kafka', brokers.join(','), topic) : null
      const security = kafkaSecurityFromEnv(env)
      this.transport = new KafkaTransport({ brokers, topic, ssl: config.ssl ?? security.ssl, sasl: config.sasl ?? security.sasl },
        DEFAULT_BUFFER_POLICY, spool)
    }
    open.add(this)
  }

  /** Starts recording one call. */
  start(provider: string | null, operation: string | null, options: AuditOptions = {}): CallRecord {
    return new CallRecord(this, provider, operation, options)
  }

  /** Encodes and hands one event to the transport; false (logged, counted) if it is invalid. */
  publish(event: AuditEvent): boolean {
    try {
      this.transport.send({ key: Buffer.from(event.tenant_id, 'utf8'), value: this.codec.encode(event), event })
      return true
    } catch (error) {
      log.warn('encode', `audit event ${event.event_id} not encoded: ${String(error)}`)
      return false
    }
  }

  private invalid = 0

  noteInvalid(): void {
    this.invalid += 1
  }

  /** Counters: emitted, delivered, dropped, errors (invalid events included), pending. */
  stats(): TransportStats {
    const stats = this.transport.stats()
    return { ...stats, emitted: stats.emitted + this.invalid, errors: stats.errors + this.invalid }
  }

  flush(timeoutMs?: number): Promise<number> {
    return this.transport.flush(timeoutMs)
  }

  async close(timeoutMs?: number): Promise<void> {
    open.delete(this)
    await this.transport.close(timeoutMs)
  }
}

export interface OutputFields {
  response?: string | null
  finishReason?: string | null
  inputTokens?: number | null
  outputTokens?: number | null
  totalTokens?: number | null
  responseModel?: string | null
  usageMetadata?: Record<string, number>
}

/** One call: what was asked, what came back, the action; emitted once. */
export class CallRecord {
  private readonly startedUs: number
  private readonly startedAt = performance.now()
  private durationMs: number | null = null
  private emitted = false
  readonly fields: Partial<AuditEvent> = {}
  private metadata: Record<string, unknown>

  constructor(private readonly layer: AuditLayer, provider: string | null, operation: string | null, options: AuditOptions) {
    this.startedUs = Math.floor((performance.timeOrigin + this.startedAt) * 1000)
    this.metadata = { ...(options.metadata ?? {}) }
    Object.assign(this.fields, {
      tenant_id: options.tenantId ?? layer.tenantId, user_id: options.userId ?? null, session_id: options.sessionId ?? null,
      trace_id: options.traceId ?? null, span_id: options.spanId ?? null, provider, operation,
      decision_type: options.decisionType ?? null, decision_outcome: options.decisionOutcome ?? null,
      confidence: options.confidence ?? null, reasoning: options.reasoning ?? null,
      compliance_tags: [...new Set(options.complianceTags ?? [])].sort(),
    })
  }

  input(prompt: string | null, model?: string | null, parameters?: Record<string, unknown>): this {
    this.fields.prompt = prompt
    if (model !== undefined) this.fields.model = model
    if (parameters && Object.keys(parameters).length > 0) this.fields.model_parameters = jsonValues(parameters)
    return this
  }

  output(out: OutputFields): this {
    this.durationMs = performance.now() - this.startedAt
    this.fields.response = out.response ?? null
    this.fields.finish_reason = out.finishReason ?? null
    this.fields.input_tokens = out.inputTokens ?? null
    this.fields.output_tokens = out.outputTokens ?? null
    const total = out.totalTokens ?? (out.inputTokens != null && out.outputTokens != null ? out.inputTokens + out.outputTokens : null)
    this.fields.total_tokens = total
    this.fields.response_model = out.responseModel ?? null
    Object.assign(this.metadata, out.usageMetadata ?? {})
    return this
  }

  action(action: Action, reasonCodes: string[] = [], errorType?: string): this {
    this.fields.action = action
    this.fields.reason_codes = reasonCodes
    if (errorType !== undefined) this.fields.error_type = errorType
    return this
  }

  addMetadata(key: string, value: unknown): this {
    this.metadata[key] = value
    return this
  }

  failed(error: unknown): void {
    const status = (error as { status?: unknown } | null)?.status
    const name = error instanceof Error ? error.constructor.name : typeof error
    const aborted = name === 'AbortError' || name === 'APIUserAbortError'
    this.action('FAIL_RETRY', aborted ? ['cancelled'] : ['provider_error', ...(typeof status === 'number' ? [`http_status_${status}`] : [])], name)
    this.emit()
  }

  /** Builds, validates and publishes the event once; later calls do nothing. */
  emit(): boolean {
    if (this.emitted) return false
    this.emitted = true
    try {
      const salt = newSalt()
      const fields: Partial<AuditEvent> = { ...this.fields, content_salt: salt, metadata: jsonValues(this.metadata) }
      for (const name of ['prompt', 'response'] as const) {
        const text = fields[name]
        if (typeof text === 'string') {
          fields[`${name}_sha256`] = contentDigest(text, salt)
          if (this.layer.capture === 'hashes_only') fields[name] = null
        }
      }
      const event = makeEvent({
        ...fields, event_id: uuid7(), timestamp_us: this.startedUs, tenant_id: fields.tenant_id ?? this.layer.tenantId,
        duration_ms: this.durationMs ?? performance.now() - this.startedAt,
      })
      return this.layer.publish(event)
    } catch (error) {
      this.layer.noteInvalid()
      log.warn(error instanceof InvalidEventError ? 'invalid-event' : 'build-event', `audit event not emitted: ${String(error instanceof Error ? error.message : error)}`)
      return false
    }
  }
}
