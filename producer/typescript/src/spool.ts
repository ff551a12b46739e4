// A bounded, fsync'd on-disk spool for events the transport could not deliver, so they are not given up at
// exit while the broker or the API is down. The segment format is the Python SDK's (key length, value
// length as 4-byte big-endian, key, value, CRC-32), in a folder per destination (cluster or API URL, and
// topic) and one folder per process, `node-owner-<pid>-<random>`. Node has no flock: a folder whose pid is no
// longer alive was left by a process that ended, and the next process of that destination adopts it (renamed
// into its own folder first, so two never replay one segment) and replays it.
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync,
  statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'

export interface SpoolRecord { key: Buffer; value: Buffer }

export interface SpoolLimits { maxRecords: number; maxBytes: number }

export const DEFAULT_SPOOL_LIMITS: SpoolLimits = { maxRecords: 1_000_000, maxBytes: 1024 ** 3 }

export function encodeRecords(records: SpoolRecord[]): Buffer {
  return Buffer.concat(records.map(({ key, value }) => {
    const header = Buffer.alloc(8)
    header.writeUInt32BE(key.length, 0)
    header.writeUInt32BE(value.length, 4)
    const body = Buffer.concat([header, key, value])
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(body) >>> 0, 0)
    return Buffer.concat([body, crc])
  }))
}

/** The records of a segment; a torn or corrupt tail (a crash mid-write) ends the reading. */
export function decodeRecords(data: Buffer): SpoolRecord[] {
  const records: SpoolRecord[] = []
  let pos = 0
  while (pos + 8 <= data.length) {
    const klen = data.readUInt32BE(pos)
    const vlen = data.readUInt32BE(pos + 4)
    const end = pos + 8 + klen + vlen
    if (end + 4 > data.length || (crc32(data.subarray(pos, end)) >>> 0) !== data.readUInt32BE(end)) break
    records.push({ key: data.subarray(pos + 8, pos + 8 + klen), value: data.subarray(pos + 8 + klen, end) })
    pos = end + 4
  }
  return records
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class DiskSpool {
  readonly folder: string
  private readonly destination: string
  private records = 0
  private bytes = 0
  private sequence = 0

  constructor(root: string, kind: string, address: string, topic: string,
    private readonly limits: SpoolLimits = DEFAULT_SPOOL_LIMITS) {
    const digest = createHash('sha256').update(`${kind}\0${address}\0${topic}`).digest('hex').slice(0, 16)
    this.destination = join(root, `${kind}-${digest}`)
    mkdirSync(this.destination, { recursive: true })
    const described = join(this.destination, 'destination.json')
    if (!existsSync(described)) writeFileSync(described, JSON.stringify({ kind, address, topic }) + '\n')
    this.folder = join(this.destination, `node-owner-${process.pid}-${randomBytes(4).toString('hex')}`)
    mkdirSync(this.folder)
  }

  /** Appends a segment of these records and fsyncs it; returns how many fit within the limits. */
  write(records: SpoolRecord[]): number {
    const fitting: SpoolRecord[] = []
    for (const record of records) {
      const size = record.key.length + record.value.length + 12
      if (this.records + 1 > this.limits.maxRecords || this.bytes + size > this.limits.maxBytes) break
      fitting.push(record)
      this.records += 1
      this.bytes += size
    }
    if (fitting.length === 0) return 0
    this.sequence += 1
    const path = join(this.folder, `segment-${String(Date.now()).padStart(15, '0')}-${this.sequence}.log`)
    const fd = openSync(path, 'w')
    try {
      writeSync(fd, encodeRecords(fitting))
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    return fitting.length
  }

  /** This process's segments and those of ended processes of this destination (moved here first), oldest
   *  first, with their records. */
  adopt(): { path: string; records: SpoolRecord[] }[] {
    for (const name of readdirSync(this.destination)) {
      const match = /^node-owner-(\d+)-/.exec(name)
      const folder = join(this.destination, name)
      if (!match || folder === this.folder || alive(Number(match[1]))) continue
      for (const segment of readdirSync(folder)) {
        renameSync(join(folder, segment), join(this.folder, `adopted-${name}-${segment}`))
      }
      rmSync(folder, { recursive: true, force: true })
    }
    return readdirSync(this.folder).filter((n) => n.endsWith('.log')).sort().map((name) => {
      const path = join(this.folder, name)
      return { path, records: decodeRecords(readFileSync(path)) }
    })
  }

  remove(path: string): void {
    const size = existsSync(path) ? statSync(path).size : 0
    const count = existsSync(path) ? decodeRecords(readFileSync(path)).length : 0
    rmSync(path, { force: true })
    this.records = Math.max(0, this.records - count)
    this.bytes = Math.max(0, this.bytes - size)
  }

  /** The process's folder, removed when it holds nothing (else left for the next process). */
  release(): void {
    if (existsSync(this.folder) && readdirSync(this.folder).length === 0) rmSync(this.folder, { recursive: true, force: true })
  }
}
