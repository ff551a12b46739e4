// The REST transport against a local HTTP server: batches with the API key, 5xx retried, 4xx
// counted as errors and not retried forever.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { type AddressInfo } from 'node:net'
import { test } from 'node:test'

import { AuditLayer, HttpTransport } from '../src/index.js'

test('events go to POST /v1/audit/log with the bearer key; 503 is retried, 400 is an error', async () => {
  const bodies: { auth: string | undefined; events: { tenant_id: string; decision_type: string }[] }[] = []
  let answers = [503, 200, 400]
  const server = createServer((request, response) => {
    let data = ''
    request.on('data', (chunk: Buffer) => { data += chunk.toString() })
    request.on('end', () => {
      assert.equal(request.url, '/v1/audit/log')
      bodies.push({ auth: request.headers.authorization, ...(JSON.parse(data) as { events: [] }) })
      const status = answers.shift() ?? 200
      response.writeHead(status, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const layer = new AuditLayer({ tenantId: 'acme-bank', endpoint, apiKey: 'al_sk_test' })
  assert.ok(layer.transport instanceof HttpTransport)
  layer.start('openai', 'chat', { decisionType: 'first' }).emit()
  assert.equal(await layer.flush(10_000), 0)
  layer.start('openai', 'chat', { decisionType: 'second' }).emit()
  assert.equal(await layer.flush(10_000), 0)
  await layer.close()
  server.close()
  assert.deepEqual(bodies.map((b) => [b.auth, b.events.map((e) => e.decision_type)]),
    [['Bearer al_sk_test', ['first']], ['Bearer al_sk_test', ['first']], ['Bearer al_sk_test', ['second']]])
  const stats = layer.stats()
  assert.deepEqual([stats.emitted, stats.delivered, stats.errors], [2, 1, 1])
})
