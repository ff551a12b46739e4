// UUIDv7 (RFC 9562): time-ordered, strictly increasing within a process (12-bit counter in rand_a),
// as the Python SDK makes them.
import { randomBytes } from 'node:crypto'

let lastMs = 0
let counter = 0

export function uuid7(now: number = Date.now()): string {
  let ms = now
  if (ms > lastMs) {
    lastMs = ms
    counter = randomBytes(2).readUInt16BE() & 0x7ff
  } else {
    counter += 1
    if (counter > 0xfff) {
      lastMs += 1
      counter = 0
    }
    ms = lastMs
  }
  const bytes = randomBytes(16)
  bytes.writeUIntBE(ms, 0, 6)
  bytes[6] = 0x70 | (counter >> 8)
  bytes[7] = counter & 0xff
  bytes[8] = 0x80 | (bytes[8]! & 0x3f)
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
