// Where encoded events go: Kafka (the default) or the REST ingest endpoint. Both buffer in memory,
// bounded; a full buffer drops the newest event (counted, logged), never blocks or throws into the
// caller. Delivery runs in the background and retries with backoff while the target is down.
import kafkajs from 'kafkajs'

import type { AuditEvent } from './event.js'
import { log } from './log.js'
import { partitionFor } from './partition.js'

export interface OutgoingEvent {
  key: Buffer
  value: Buffer
  event: AuditEvent
}

export interface TransportStats {
  emitted: number
  delivered: number
  dropped: number
  errors: number
  pending: number
}

export interface Transport {
  send(item: OutgoingEvent): void
  flush(timeoutMs?: number): Promise<number>
  close(timeoutMs?: number): Promise<void>
  stats(): TransportStats
}

export interface BufferPolicy {
  maxBufferedEvents: number
  batchSize: number
  lingerMs: number
  maxBackoffMs: number
}

export const DEFAULT_BUFFER_POLICY: BufferPolicy = { maxBufferedEvents: 10_000, batchSize: 500, lingerMs: 5, maxBackoffMs: 5_000 }

/** The buffer, the background loop and the counters; subclasses only deliver a batch. */
export abstract class BatchingTransport implements Transport {
  private readonly buffer: OutgoingEvent[] = []
  private readonly counts = { emitted: 0, delivered: 0, dropped: 0, errors: 0 }
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private backoffMs = 0
  private closed = false

  constructor(protected readonly policy: BufferPolicy = DEFAULT_BUFFER_POLICY) {}

  /** Delivers a batch or throws (then retried); resolves with how many the target accepted. */
  protected abstract deliver(batch: OutgoingEvent[]): Promise<number>
  protected async shutdown(): Promise<void> {}

  send(item: OutgoingEvent): void {
    this.counts.emitted += 1
    if (this.closed || this.buffer.length >= this.policy.maxBufferedEvents) {
      this.counts.dropped += 1
      log.warn('buffer-full', `audit buffer full (${this.policy.maxBufferedEvents} events) or closed; event dropped`)
      return
    }
    this.buffer.push(item)
    this.schedule(this.policy.lingerMs)
  }

  stats(): TransportStats {
    return { ...this.counts, pending: this.buffer.length }
  }

  /** Waits up to timeoutMs for the buffer to drain; resolves with how many are still pending. */
  async flush(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs
    while ((this.buffer.length > 0 || this.running) && Date.now() < deadline) {
      if (!this.running && !this.timer) this.schedule(0)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return this.buffer.length
  }

  async close(timeoutMs = 5_000): Promise<void> {
    const left = await this.flush(timeoutMs)
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    if (left > 0) log.warn('close', `audit transport closed with ${left} events undelivered`)
    await this.shutdown().catch((error: unknown) => log.warn('shutdown', `audit transport shutdown: ${String(error)}`))
  }

  private schedule(delayMs: number): void {
    if (this.timer || this.running || this.closed) return
    this.timer = setTimeout(() => {
      this.timer = null
      this.running = this.drain().finally(() => {
        this.running = null
        if (this.buffer.length > 0) this.schedule(this.backoffMs || this.policy.lingerMs)
      })
    }, delayMs)
    this.timer.unref()  // an idle transport never keeps the process alive; shutdown hooks flush it
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.policy.batchSize)
      let accepted: number
      try {
        accepted = await this.deliver(batch)
      } catch (error) {
        this.backoffMs = Math.min(this.policy.maxBackoffMs, Math.max(100, this.backoffMs * 2))
        log.warn('deliver', `audit delivery failed, retrying in ${this.backoffMs} ms: ${String(error)}`)
        return
      }
      this.buffer.splice(0, batch.length)
      this.counts.delivered += accepted
      this.counts.errors += batch.length - accepted
      this.backoffMs = 0
    }
  }
}

export interface KafkaSettings {
  brokers: string[]
  topic: string
  clientId?: string
}

/** Idempotent, acks=all, keyed by tenant and placed by Kafka's murmur2, as the Python SDK does. */
export class KafkaTransport extends BatchingTransport {
  private readonly producer: kafkajs.Producer
  private connected: Promise<void> | null = null

  constructor(private readonly settings: KafkaSettings, policy: BufferPolicy = DEFAULT_BUFFER_POLICY) {
    super(policy)
    const kafka = new kafkajs.Kafka({
      clientId: settings.clientId ?? 'audit-layer-typescript', brokers: settings.brokers,
      logLevel: kafkajs.logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2_000 },
    })
    this.producer = kafka.producer({
      idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
      createPartitioner: () => ({ partitionMetadata, message }) => partitionFor(Buffer.from(message.key ?? ''), partitionMetadata.length),
    })
  }

  protected async deliver(batch: OutgoingEvent[]): Promise<number> {
    this.connected ??= this.producer.connect().catch((error: unknown) => {
      this.connected = null
      throw error
    })
    await this.connected
    await this.producer.send({ topic: this.settings.topic, acks: -1, messages: batch.map((m) => ({ key: m.key, value: m.value })) })
    return batch.length
  }

  protected async shutdown(): Promise<void> {
    if (this.connected) await this.producer.disconnect()
  }
}

export interface HttpSettings {
  endpoint: string
  apiKey: string
  timeoutMs?: number
}

/** `<base>/audit/log` for a base URL ending in /v1 (as the integration document writes it), else `<base>/v1/audit/log`. */
export function ingestUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '')
  return base.endsWith('/v1') ? `${base}/audit/log` : `${base}/v1/audit/log`
}

/** POST /v1/audit/log with a batch of events as JSON; the API key's organisation is the tenant. */
export class HttpTransport extends BatchingTransport {
  constructor(private readonly settings: HttpSettings, policy: BufferPolicy = DEFAULT_BUFFER_POLICY) {
    super({ ...policy, batchSize: Math.min(policy.batchSize, 100) })
  }

  protected async deliver(batch: OutgoingEvent[]): Promise<number> {
    const response = await fetch(ingestUrl(this.settings.endpoint), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.settings.apiKey}` },
      body: JSON.stringify({ events: batch.map((m) => m.event) }),
      signal: AbortSignal.timeout(this.settings.timeoutMs ?? 10_000),
    })
    if (response.status >= 500 || response.status === 429) throw new Error(`ingest answered ${response.status}`)
    if (!response.ok) {
      // a 4xx will not succeed on retry: the batch is reported and given up, not retried forever
      log.warn('ingest-rejected', `audit ingest rejected ${batch.length} events: ${response.status} ${await response.text()}`)
      return 0
    }
    return batch.length
  }
}
