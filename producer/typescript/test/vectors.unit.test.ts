// The shared vectors (made by the Python SDK): same schema fingerprint, same Avro bytes, same
// digests, same partitions.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'

import { AvroCodec, contentDigest, makeEvent, murmur2, partitionFor, pythonJson, uuid7 } from '../src/index.js'
import { vectors } from './helpers.js'

const codec = new AvroCodec()

test('the schema has the fingerprint and canonical form Python computes', () => {
  assert.equal(codec.canonicalForm, vectors.canonical_form)
  assert.equal(codec.fingerprint.toString('hex'), vectors.fingerprint_hex)
})

test('every vector event encodes to the same bytes and decodes back', () => {
  assert.ok(vectors.events.length >= 4)
  for (const vector of vectors.events) {
    const shuffled = { ...vector.event, metadata: Object.fromEntries(Object.entries(vector.event.metadata).reverse()) }
    const encoded = codec.encode(makeEvent(shuffled))
    assert.equal(encoded.toString('hex'), vector.avro_hex, vector.name)
    assert.equal(createHash('sha256').update(encoded).digest('hex'), vector.sha256, vector.name)
    assert.deepEqual(codec.decode(encoded), vector.event, vector.name)
  }
})

test('murmur2 and partitions match Kafka for every key', () => {
  for (const v of vectors.murmur2) {
    assert.equal(murmur2(Buffer.from(v.key, 'utf8')), v.murmur2, v.key)
    for (const [n, p] of Object.entries(v.partitions)) assert.equal(partitionFor(Buffer.from(v.key, 'utf8'), Number(n)), p, `${v.key} / ${n}`)
  }
  for (const v of vectors.events) assert.equal(partitionFor(Buffer.from(v.key, 'utf8'), 12), v.partitions['12'])
})

test('content digests are salted the same way', () => {
  for (const d of vectors.digests) assert.equal(contentDigest(d.text, d.salt), d.sha256)
  const loan = vectors.events.find((v) => v.name === 'loan-denied')!.event
  assert.equal(contentDigest(loan.prompt!, loan.content_salt), loan.prompt_sha256)
})

test('prompts are JSON as Python writes it', () => {
  const loan = vectors.events.find((v) => v.name === 'loan-denied')!.event
  assert.equal(pythonJson([{ role: 'user', content: 'Assess loan application 42.' }]), loan.prompt)
  assert.equal(pythonJson({ b: [1, 2.5, null, true], a: 'é', c: { z: 1e-7, y: 1e21 } }, true),
    '{"a":"é","b":[1,2.5,null,true],"c":{"y":1e+21,"z":1e-07}}')
})

test('uuid7 ids are version 7 and strictly increasing', () => {
  const ids = Array.from({ length: 5000 }, () => uuid7())
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `${ids[i - 1]} then ${ids[i]}`)
})

test('invalid events are refused with the field named', () => {
  const base = { event_id: uuid7(), timestamp_us: 1, tenant_id: 'acme' }
  assert.throws(() => makeEvent({ ...base, tenant_id: ' acme' }), /tenant_id/)
  assert.throws(() => makeEvent({ ...base, input_tokens: -3 }), /input_tokens: must be a non-negative integer/)
  assert.throws(() => makeEvent({ ...base, confidence: 1.5 }), /confidence/)
  assert.throws(() => makeEvent({ ...base, prompt: 'x'.repeat(512 * 1024 + 1) }), /prompt/)
})
