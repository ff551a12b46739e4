// Where encoded events go: Kafka (the default) or the REST ingest endpoint. Both buffer in memory,
// bounded; a full buffer drops the newest event (counted, logged), never blocks or throws into the
// caller. Delivery runs in the background and retries with backoff while the target is down.
import kafkajs from 'kafkajs'

import type { AuditEvent } from './event.js'
import { log } from './log.js'
import { partitionFor } from './partition.js'
import { type DiskSpool, type SpoolRecord } from './spool.js'

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
  /** written to the disk spool: waiting for the next process of this destination, or replayed from it */
  spooled: number
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
  private readonly counts = { emitted: 0, delivered: 0, dropped: 0, errors: 0, spooled: 0 }
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private backoffMs = 0
  private closed = false
  // spool segments whose events were loaded into the buffer: removed once the buffer has drained
  private adopted: string[] = []

  constructor(protected readonly policy: BufferPolicy = DEFAULT_BUFFER_POLICY, private readonly spool: DiskSpool | null = null) {
    // after the subclass's constructor: what an ended process of this destination left is replayed first
    if (spool) queueMicrotask(() => this.loadSpool())
  }

  /** Delivers a batch or throws (then retried); resolves with how many the target accepted. */
  protected abstract deliver(batch: OutgoingEvent[]): Promise<number>
  protected async shutdown(): Promise<void> {}
  /** The bytes the spool keeps for an event, and the event made again from them. */
  protected spoolValue(item: OutgoingEvent): Buffer {
    return item.value
  }

  protected fromSpool(record: SpoolRecord): OutgoingEvent {
    return { key: record.key, value: record.value, event: {} as AuditEvent }
  }

  send(item: OutgoingEvent): void {
    this.counts.emitted += 1
    if (this.closed || this.buffer.length >= this.policy.maxBufferedEvents) {
      if (this.toSpool([item]) === 1) return
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

  private toSpool(items: OutgoingEvent[]): number {
    if (!this.spool || items.length === 0) return 0
    try {
      const written = this.spool.write(items.map((item) => ({ key: item.key, value: this.spoolValue(item) })))
      this.counts.spooled += written
      return written
    } catch (error) {
      log.warn('spool', `audit spool write failed: ${String(error)}`)
      return 0
    }
  }

  private loadSpool(): void {
    if (!this.spool || this.closed) return
    try {
      for (const { path, records } of this.spool.adopt()) {
        if (this.buffer.length + records.length > this.policy.maxBufferedEvents) break  // the rest waits on disk
        this.buffer.push(...records.map((r) => this.fromSpool(r)))
        this.adopted.push(path)
        this.counts.spooled += records.length
      }
      if (this.adopted.length > 0) log.warn('spool-replay', `audit spool: replaying ${this.buffer.length} events left by a process that ended`)
      this.schedule(0)
    } catch (error) {
      log.warn('spool', `audit spool not read: ${String(error)}`)
    }
  }

  private dropAdopted(): void {
    for (const path of this.adopted.splice(0)) this.spool?.remove(path)
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
    const spooled = this.toSpool(this.buffer.splice(0))
    if (this.spool) {
      this.dropAdopted()  // what they held is delivered, or in the segment just written
      this.spool.release()
    }
    if (left > spooled) log.warn('close', `audit transport closed with ${left - spooled} events undelivered`)
    if (spooled > 0) log.warn('close', `audit transport closed with ${spooled} events in the spool ${this.spool?.folder}; the next process replays them`)
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
    this.dropAdopted()
  }
}

export interface KafkaSettings {
  brokers: string[]
  topic: string
  clientId?: string
  ssl?: kafkajs.KafkaConfig['ssl']
  sasl?: kafkajs.SASLOptions
}

/** Idempotent, acks=all, keyed by tenant and placed by Kafka's murmur2, as the Python SDK does. */
export class KafkaTransport extends BatchingTransport {
  private readonly producer: kafkajs.Producer
  private connected: Promise<void> | null = null

  constructor(private readonly settings: KafkaSettings, policy: BufferPolicy = DEFAULT_BUFFER_POLICY,
    spool: DiskSpool | null = null) {
    super(policy, spool)
    const kafka = new kafkajs.Kafka({
      clientId: settings.clientId ?? 'audit-layer-typescript', brokers: settings.brokers,
      ssl: settings.ssl, sasl: settings.sasl,
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
  constructor(private readonly settings: HttpSettings, policy: BufferPolicy = DEFAULT_BUFFER_POLICY,
    spool: DiskSpool | null = null) {
    super({ ...policy, batchSize: Math.min(policy.batchSize, 100) }, spool)
  }

  protected spoolValue(item: OutgoingEvent): Buffer {
    return Buffer.from(JSON.stringify(item.event), 'utf8')
  }

  protected fromSpool(record: SpoolRecord): OutgoingEvent {
    return { key: record.key, value: Buffer.alloc(0), event: JSON.parse(record.value.toString('utf8')) as AuditEvent }
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
