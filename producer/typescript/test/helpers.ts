// Test helpers: the shared vectors, and a Transport that keeps what it is given (for the unit
// tests of the mapping; the integration tests use the real broker).
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { type AuditEvent, BatchingTransport, type OutgoingEvent } from '../src/index.js'

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..')

export interface Vectors {
  fingerprint_hex: string
  canonical_form: string
  events: { name: string; event: AuditEvent; avro_hex: string; sha256: string; key: string; partitions: Record<string, number> }[]
  murmur2: { key: string; murmur2: number; partitions: Record<string, number> }[]
  digests: { text: string; salt: string; sha256: string }[]
}

export const vectors = JSON.parse(readFileSync(join(REPO, 'schemas', 'test-vectors', 'audit-events.json'), 'utf8')) as Vectors

export class KeepingTransport extends BatchingTransport {
  readonly kept: OutgoingEvent[] = []

  protected async deliver(batch: OutgoingEvent[]): Promise<number> {
    this.kept.push(...batch)
    return batch.length
  }

  async events(expected: number): Promise<AuditEvent[]> {
    await this.flush(5_000)
    if (this.kept.length !== expected) throw new Error(`expected ${expected} events, got ${this.kept.length}`)
    return this.kept.map((m) => m.event)
  }
}
