// Against the real broker (KAFKA_BOOTSTRAP, default 127.0.0.1:9092; `make kafka` starts one):
// events from the audited OpenAI client arrive Avro-encoded, keyed by tenant, on the partition
// Kafka's murmur2 gives, as the Python SDK places them.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'

import kafkajs from 'kafkajs'
import OpenAI from 'openai'

import { AuditLayer, AvroCodec, type AuditEvent, createAuditedOpenAI, KafkaTransport, partitionFor } from '../src/index.js'
import { vectors } from './helpers.js'

const BROKERS = (process.env.KAFKA_BOOTSTRAP ?? '127.0.0.1:9092').split(',')
const PARTITIONS = 12

test('events reach the real broker, on the partitions the shared vectors name', { timeout: 120_000 }, async () => {
  const kafka = new kafkajs.Kafka({ clientId: 'ts-sdk-test', brokers: BROKERS, logLevel: kafkajs.logLevel.NOTHING })
  const topic = `test.ts.${randomUUID().slice(0, 8)}.audit.events`
  const admin = kafka.admin()
  await admin.connect().catch((error: unknown) => { throw new Error(`no Kafka broker at ${BROKERS.join(',')} (start one: make kafka): ${String(error)}`) })
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true })
  await admin.disconnect()

  const layer = new AuditLayer({ tenantId: 'acme-bank', transport: new KafkaTransport({ brokers: BROKERS, topic }) })
  const fetch = (async () => new Response(JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'ok' } }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }), { headers: { 'content-type': 'application/json' } })) as unknown as typeof globalThis.fetch
  const client = createAuditedOpenAI(new OpenAI({ apiKey: 'k', baseURL: 'http://llm.test/v1', fetch }), layer)
  const tenants = [...vectors.events.map((v) => v.key), ...vectors.murmur2.map((v) => v.key).filter((k) => k.length > 0)]
  for (const tenantId of tenants) {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `for ${tenantId}` }],
      audit: { tenantId, decisionType: 'ts_integration' } } as OpenAI.ChatCompletionCreateParamsNonStreaming)
  }
  assert.equal(await layer.flush(30_000), 0)
  assert.equal(layer.stats().delivered, tenants.length)
  await layer.close()

  const codec = new AvroCodec()
  const consumer = kafka.consumer({ groupId: `${topic}.check` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen: { partition: number; key: string; event: AuditEvent }[] = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${tenants.length} events arrived`)), 60_000)
    void consumer.run({ eachMessage: async ({ partition, message }) => {
      seen.push({ partition, key: message.key!.toString('utf8'), event: codec.decode(message.value!) })
      if (seen.length === tenants.length) { clearTimeout(timer); resolve() }
    } })
  })
  await consumer.disconnect()

  const expected = new Map<string, number>([...vectors.events.map((v) => [v.key, v.partitions['12']!] as const),
    ...vectors.murmur2.map((v) => [v.key, v.partitions['12']!] as const)])
  for (const { partition, key, event } of seen) {
    assert.equal(event.tenant_id, key)
    assert.equal(partition, expected.get(key), key)
    assert.equal(partition, partitionFor(Buffer.from(key, 'utf8'), PARTITIONS))
    assert.deepEqual([event.provider, event.decision_type, event.response], ['openai', 'ts_integration', 'ok'])
  }
  assert.ok(new Set(seen.map((s) => s.partition)).size > 3)
})
