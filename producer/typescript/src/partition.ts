// Kafka's murmur2 partitioner (the Java client's, and librdkafka's murmur2_random): a tenant's
// events land on the same partition from either SDK.
const M = 0x5bd1e995

export function murmur2(data: Buffer): number {
  const length = data.length
  let h = (0x9747b28c ^ length) >>> 0
  const whole = length - (length % 4)
  for (let i = 0; i < whole; i += 4) {
    let k = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0
    k = Math.imul(k, M) >>> 0
    k = (k ^ (k >>> 24)) >>> 0
    k = Math.imul(k, M) >>> 0
    h = (Math.imul(h, M) ^ k) >>> 0
  }
  const rest = length % 4
  if (rest === 3) h = (h ^ (data[whole + 2]! << 16)) >>> 0
  if (rest >= 2) h = (h ^ (data[whole + 1]! << 8)) >>> 0
  if (rest >= 1) {
    h = (h ^ data[whole]!) >>> 0
    h = Math.imul(h, M) >>> 0
  }
  h = (h ^ (h >>> 13)) >>> 0
  h = Math.imul(h, M) >>> 0
  h = (h ^ (h >>> 15)) >>> 0
  return h
}

export function partitionFor(key: Buffer, partitions: number): number {
  if (partitions <= 0) throw new RangeError('a topic has at least one partition')
  return (murmur2(key) & 0x7fffffff) % partitions
}
