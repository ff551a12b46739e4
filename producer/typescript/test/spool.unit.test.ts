// The disk spool: events a transport could not deliver by close are kept on disk in the Python SDK's segment
// format, and the next process of the same destination replays them once; another destination leaves them.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, renameSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { AuditLayer, decodeRecords, encodeRecords } from '../src/index.js'

test('segments are the Python format and a torn tail is ignored', () => {
  const data = encodeRecords([{ key: Buffer.from('acme'), value: Buffer.from('one') }, { key: Buffer.from('acme'), value: Buffer.from('two') }])
  assert.deepEqual(decodeRecords(data).map((r) => r.value.toString()), ['one', 'two'])
  assert.deepEqual(decodeRecords(data.subarray(0, data.length - 2)).map((r) => r.value.toString()), ['one'])
  // the same bytes as the Python SDK's spool writes: >II key value CRC-32
  assert.equal(data.subarray(0, 8).toString('hex'), '0000000400000003')
})

function ingest(port: number, received: string[]): Promise<Server> {
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => { body += chunk.toString() })
    request.on('end', () => {
      for (const event of (JSON.parse(body) as { events: { decision_type: string }[] }).events) received.push(event.decision_type)
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"event_ids":[]}')
    })
  })
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)))
}

test('events undelivered at close wait on disk and the next process replays them once', async () => {
  const root = mkdtempSync(join(tmpdir(), 'audit-layer-ts-spool-'))
  const probe = await ingest(0, [])
  const port = (probe.address() as AddressInfo).port
  probe.close()  // the API is down now
  const config = { tenantId: 'acme-bank', apiUrl: `http://127.0.0.1:${port}/v1`, apiKey: 'al_sk_test', spoolDir: root, timeoutMs: 500 }
  const down = new AuditLayer(config)
  for (const decision of ['first', 'second', 'third']) down.start('openai', 'chat', { decisionType: decision }).emit()
  await down.close(300)
  assert.equal(down.stats().spooled, 3)
  const [destination] = readdirSync(root).filter((n) => n.startsWith('http-'))
  const [owner] = readdirSync(join(root, destination!)).filter((n) => n.startsWith('node-owner-'))
  assert.equal(readdirSync(join(root, destination!, owner!)).length, 1)  // one fsync'd segment
  // as if that process had ended: its folder now names a pid no process has
  renameSync(join(root, destination!, owner!), join(root, destination!, 'node-owner-2147483646-ended'))

  const elsewhere = new AuditLayer({ ...config, apiUrl: 'http://127.0.0.1:1/v1' })  // another destination
  const received: string[] = []
  const server = await ingest(port, received)
  const up = new AuditLayer(config)
  assert.equal(await up.flush(5_000), 0)
  await up.close(1_000)
  await elsewhere.close(100)
  server.close()
  assert.deepEqual(received.sort(), ['first', 'second', 'third'])
  assert.equal(elsewhere.stats().spooled, 0)
  assert.ok(!existsSync(join(root, destination!, 'node-owner-2147483646-ended')))
  assert.deepEqual(readdirSync(join(root, destination!)).filter((n) => n.startsWith('node-owner-')), [])  // nothing left
})
