// Avro single-object encoding (C3 01, the schema's CRC-64-AVRO fingerprint, the datum), written
// exactly as the Python SDK writes it: map entries in sorted key order, so the bytes are the same.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import avro from 'avsc'

import type { AuditEvent } from './event.js'
import { byCodePoint } from './json.js'

const SCHEMA_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schema', 'dev.auditlayer.AuditEvent.avsc')
const CRC64_EMPTY = 0xc15d213aa4d7a795n
const MAGIC = Buffer.from([0xc3, 0x01])

const CRC64_TABLE: bigint[] = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i)
  for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (CRC64_EMPTY & -(fp & 1n))
  return fp
})

/** The 64-bit Rabin fingerprint of the Avro specification. */
export function crc64Avro(data: Buffer): bigint {
  let fp = CRC64_EMPTY
  for (const byte of data) fp = (fp >> 8n) ^ CRC64_TABLE[Number((fp ^ BigInt(byte)) & 0xffn)]!
  return fp
}

export class AvroCodec {
  readonly type: avro.Type
  readonly canonicalForm: string
  readonly fingerprint: Buffer
  private readonly header: Buffer

  constructor(schema: object = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as object) {
    this.type = avro.Type.forSchema(schema as avro.Schema)
    this.canonicalForm = JSON.stringify(this.type.schema())
    this.fingerprint = Buffer.alloc(8)
    this.fingerprint.writeBigUInt64LE(crc64Avro(Buffer.from(this.canonicalForm, 'utf8')))
    this.header = Buffer.concat([MAGIC, this.fingerprint])
  }

  encode(event: AuditEvent): Buffer {
    return Buffer.concat([this.header, this.type.toBuffer(sortedMaps(event))])
  }

  decode(data: Buffer): AuditEvent {
    if (data.length < 10 || data[0] !== 0xc3 || data[1] !== 0x01) throw new Error('not Avro single-object encoding')
    if (!data.subarray(2, 10).equals(this.fingerprint)) throw new Error(`unknown writer schema ${data.subarray(2, 10).toString('hex')}`)
    return { ...(this.type.fromBuffer(data.subarray(10)) as AuditEvent) }
  }
}

function sortedMaps(event: AuditEvent): AuditEvent {
  return { ...event, model_parameters: sortKeys(event.model_parameters), metadata: sortKeys(event.metadata) }
}

function sortKeys(map: Record<string, string>): Record<string, string> {
  // Python sorts str keys by code point; JS's default sort compares UTF-16 units (they differ above U+FFFF)
  const keys = Object.keys(map).sort(byCodePoint)
  const out: Record<string, string> = {}
  for (const key of keys) out[key] = map[key]!
  return out
}
