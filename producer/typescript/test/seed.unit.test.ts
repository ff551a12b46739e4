// The integration document's TypeScript usage as written: wrapWithAudit(fn, config, { provider, extract... })
// called as (args, { userId, decisionType }), and createAuditedOpenAI(openai, config) with the document's
// config { apiKey, orgId, apiUrl } whose apiUrl ends in /v1; events posted to a local ingest server.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { type AddressInfo } from 'node:net'
import { test } from 'node:test'

import OpenAI from 'openai'

import { type AuditConfig, createAuditedOpenAI, ingestUrl, wrapWithAudit } from '../src/index.js'

const completion = { id: 'c1', object: 'chat.completion', created: 1, model: 'gpt-4',
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Reset your password here.' } }],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 } }

test('the ingest URL follows a base with or without /v1', () => {
  assert.equal(ingestUrl('https://api.example/v1'), 'https://api.example/v1/audit/log')
  assert.equal(ingestUrl('https://api.example/v1/'), 'https://api.example/v1/audit/log')
  assert.equal(ingestUrl('http://127.0.0.1:8000'), 'http://127.0.0.1:8000/v1/audit/log')
})

test('wrapWithAudit and createAuditedOpenAI as the document writes them', async () => {
  const received: { path: string | undefined; events: Record<string, unknown>[] }[] = []
  const server = createServer((request, response) => {
    let data = ''
    request.on('data', (chunk: Buffer) => { data += chunk.toString() })
    request.on('end', () => {
      received.push({ path: request.url, events: (JSON.parse(data) as { events: Record<string, unknown>[] }).events })
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"event_ids":[]}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
  const llmRequests: Record<string, unknown>[] = []
  const fetch = (async (_url: unknown, init?: { body?: unknown }): Promise<Response> => {
    llmRequests.push(JSON.parse(String(init?.body)) as Record<string, unknown>)
    return new Response(JSON.stringify(completion), { headers: { 'content-type': 'application/json' } })
  }) as unknown as typeof globalThis.fetch
  const openai = new OpenAI({ apiKey: 'sk-test', baseURL: 'http://llm.test/v1', fetch, maxRetries: 0 })

  // the document's example, as written (with its config and the wrapped create)
  const config: AuditConfig = { apiKey: 'al_sk_test', orgId: 'org_456', apiUrl, asyncLogging: false }
  const auditedCreate = wrapWithAudit(
    openai.chat.completions.create.bind(openai.chat.completions),
    config,
    { provider: 'openai', extractTokens: (r) => ({ prompt: r.usage?.prompt_tokens, completion: r.usage?.completion_tokens }) }
  )
  const response = await auditedCreate(
    { model: 'gpt-4', messages: [{ role: 'user', content: 'How do I reset my password?' }] },
    { userId: 'user_123', decisionType: 'support' }
  )
  assert.equal((response as OpenAI.ChatCompletion).choices[0]?.message.content, 'Reset your password here.')
  assert.deepEqual(Object.keys(llmRequests[0] ?? {}).sort(), ['messages', 'model'])  // the audit options stayed here

  const client = createAuditedOpenAI(openai, config)
  await client.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'Second question' }] },
    { userId: 'user_456', decisionType: 'support', complianceTags: ['SOC2'] } as never)
  server.close()

  assert.deepEqual(received.map((r) => r.path), ['/v1/audit/log', '/v1/audit/log'])  // not /v1/v1/audit/log
  const [first, second] = received.map((r) => r.events[0] ?? {}) as [Record<string, unknown>, Record<string, unknown>]
  assert.equal(first.tenant_id, 'org_456')
  assert.deepEqual([first.user_id, first.decision_type, first.provider, first.input_tokens, first.output_tokens],
    ['user_123', 'support', 'openai', 12, 5])
  assert.deepEqual([second.user_id, second.decision_type, second.compliance_tags, second.model, second.input_tokens],
    ['user_456', 'support', ['SOC2'], 'gpt-4', 12])
})
