// The drop-ins with the real `openai` and `@anthropic-ai/sdk` packages, their HTTP answered by a
// local fetch; events checked field by field.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'

import { AuditLayer, contentDigest, createAuditedAnthropic, createAuditedOpenAI, wrapWithAudit } from '../src/index.js'
import { KeepingTransport } from './helpers.js'

const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const sse = (events: [string | null, unknown][]): Response =>
  new Response(events.map(([name, data]) => `${name ? `event: ${name}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`).join(''),
    { headers: { 'content-type': 'text/event-stream' } })

function completion(finish = 'stop', extra: Record<string, unknown> = {}): unknown {
  return { id: 'c1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, finish_reason: finish, message: { role: 'assistant', content: 'Denied: debt ratio too high.', ...extra } }],
    usage: { prompt_tokens: 21, completion_tokens: 7, total_tokens: 28, prompt_tokens_details: { cached_tokens: 16 } } }
}

function setup(answer: (body: Record<string, unknown>) => Response) {
  const transport = new KeepingTransport()
  const layer = new AuditLayer({ tenantId: 'acme-bank', transport })
  const sent: Record<string, unknown>[] = []
  const fetch = async (_url: unknown, init?: { body?: unknown }): Promise<Response> => {
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>
    sent.push(body)
    return answer(body)
  }
  return { transport, layer, sent, fetch: fetch as unknown as typeof globalThis.fetch }
}

test('OpenAI chat completion: the provider object returned, the event field by field', async () => {
  const { transport, layer, sent, fetch } = setup(() => json(completion()))
  const client = createAuditedOpenAI(new OpenAI({ apiKey: 'k', baseURL: 'http://llm.test/v1', fetch, maxRetries: 0 }), layer)
  const messages = [{ role: 'user' as const, content: 'Assess application 42' }]
  const response = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, temperature: 0.3,
    audit: { userId: 'u-1', sessionId: 'loan-42', decisionType: 'loan_underwriting', decisionOutcome: 'denied',
      complianceTags: ['SOC2', 'FCRA'], metadata: { loan_amount: 50000 } } } as OpenAI.ChatCompletionCreateParamsNonStreaming)
  assert.equal(response.choices[0]!.message.content, 'Denied: debt ratio too high.')
  assert.equal(sent[0]!.audit, undefined)
  assert.equal(client.baseURL, 'http://llm.test/v1')  // everything else passes through
  const [event] = await transport.events(1)
  assert.equal(event!.prompt, '[{"content": "Assess application 42", "role": "user"}]')
  assert.equal(event!.prompt_sha256, contentDigest(event!.prompt!, event!.content_salt))
  assert.deepEqual([event!.tenant_id, event!.user_id, event!.session_id, event!.provider, event!.operation],
    ['acme-bank', 'u-1', 'loan-42', 'openai', 'chat'])
  assert.deepEqual([event!.model, event!.response_model, event!.finish_reason, event!.action], ['gpt-4o-mini', 'gpt-4o-mini-2024-07-18', 'stop', 'ALLOW'])
  assert.deepEqual([event!.input_tokens, event!.output_tokens, event!.total_tokens], [21, 7, 28])
  assert.deepEqual(event!.model_parameters, { temperature: '0.3' })
  assert.deepEqual(event!.compliance_tags, ['FCRA', 'SOC2'])
  assert.deepEqual(event!.metadata, { loan_amount: '50000', 'gen_ai.usage.cache_read.input_tokens': '16' })
  assert.equal(event!.sdk_name, 'audit-layer-typescript')
})

for (const [finish, extra, action, codes] of [
  ['content_filter', {}, 'REJECT', ['content_filter']],
  ['length', {}, 'ALLOW', ['truncated_by_length']],
  ['stop', { refusal: 'I cannot help.', content: null }, 'REJECT', ['refusal']],
] as const) {
  test(`OpenAI finish ${finish}${'refusal' in extra ? ' with refusal' : ''} -> ${action}`, async () => {
    const { transport, layer, fetch } = setup(() => json(completion(finish, extra)))
    const client = createAuditedOpenAI(new OpenAI({ apiKey: 'k', baseURL: 'http://llm.test/v1', fetch, maxRetries: 0 }), layer)
    await client.chat.completions.create({ model: 'm', messages: [] })
    const [event] = await transport.events(1)
    assert.deepEqual([event!.action, event!.reason_codes], [action, codes])
  })
}

test('OpenAI provider error: FAIL_RETRY recorded, the same error object thrown', async () => {
  const { transport, layer, fetch } = setup(() => json({ error: { message: 'overloaded', type: 'server_error' } }, 503))
  const client = createAuditedOpenAI(new OpenAI({ apiKey: 'k', baseURL: 'http://llm.test/v1', fetch, maxRetries: 0 }), layer)
  await assert.rejects(client.chat.completions.create({ model: 'm', messages: [] }), (error: unknown) =>
    error instanceof OpenAI.InternalServerError && error.status === 503)
  const [event] = await transport.events(1)
  assert.deepEqual([event!.action, event!.reason_codes, event!.error_type], ['FAIL_RETRY', ['provider_error', 'http_status_503'], 'InternalServerError'])
})

function chunks(): Response {
  const base = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini' }
  return sse([
    ...['Den', 'ied: ', 'ratio.'].map((p): [null, unknown] => [null, { ...base, choices: [{ index: 0, delta: { content: p }, finish_reason: null }] }]),
    [null, { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'length' }] }],
    [null, { ...base, choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } }],
    [null, '[DONE]'],
  ])
}

test('OpenAI stream: chunks passed through unchanged, recorded at the end; left early is recorded too', async () => {
  const { transport, layer, fetch } = setup(() => chunks())
  const client = createAuditedOpenAI(new OpenAI({ apiKey: 'k', baseURL: 'http://llm.test/v1', fetch, maxRetries: 0 }), layer)
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [], stream: true, audit: { decisionType: 'x' } } as OpenAI.ChatCompletionCreateParamsStreaming)
  const seen: (string | null | undefined)[] = []
  for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content)
  assert.deepEqual(seen.slice(0, 3), ['Den', 'ied: ', 'ratio.'])
  const early = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [], stream: true })
  for await (const _ of early) break  // eslint-disable-line no-unreachable-loop
  const [full, left] = await transport.events(2)
  assert.deepEqual([full!.response, full!.finish_reason, full!.action, full!.reason_codes], ['Denied: ratio.', 'length', 'ALLOW', ['truncated_by_length']])
  assert.deepEqual([full!.input_tokens, full!.output_tokens, full!.decision_type], [9, 3, 'x'])
  assert.ok(Number(full!.metadata['gen_ai.response.time_to_first_chunk']) >= 0)
  assert.deepEqual([left!.response, left!.reason_codes], ['Den', ['stream_abandoned']])
})

test('OpenAI responses.create: plain and streamed, mapped as in Python', async () => {
  const response = (status = 'completed', incomplete: string | null = null) => ({
    id: 'resp_1', object: 'response', created_at: 1, model: 'gpt-4o-mini', status, parallel_tool_calls: true, tool_choice: 'auto', tools: [],
    incomplete_details: incomplete ? { reason: incomplete } : null, error: null,
    output: [{ type: 'message', id: 'm', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Approve.', annotations: [] }] }],
    usage: { input_tokens: 100, output_tokens: 20, total_tokens: 120, input_tokens_details: { cached_tokens: 60 }, output_tokens_details: { reasoning_tokens: 5 } },
  })
  const { transport, layer, fetch } = setup((body) => body.stream
    ? sse([['response.created', { type: 'response.created', sequence_number: 0, response: { ...response(), status: 'in_progress', output: [] } }],
      ['response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 1, item_id: 'm', output_index: 0, content_index: 0, delta: 'Approve.' }],
      ['response.incomplete', { type: 'response.incomplete', sequence_number: 2, response: response('incomplete', 'max_output_tokens') }]])
    : json(response()))
  const client = createAuditedOpenAI(new OpenAI({ apiKey: 'k', baseURL: 'http://llm.test/v1', fetch, maxRetries: 0 }), layer)
  const result = await client.responses.create({ model: 'gpt-4o-mini', instructions: 'Underwrite.', input: 'Application 42',
    audit: { decisionType: 'loan_underwriting' } } as OpenAI.Responses.ResponseCreateParamsNonStreaming)
  assert.equal(result.output_text, 'Approve.')
  const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'again', stream: true })
  for await (const _ of stream) { /* drained */ }
  const [plain, streamed] = await transport.events(2)
  assert.equal(plain!.prompt, '{"input": "Application 42", "instructions": "Underwrite."}')
  assert.deepEqual([plain!.response, plain!.finish_reason, plain!.action, plain!.input_tokens, plain!.decision_type],
    ['Approve.', 'stop', 'ALLOW', 100, 'loan_underwriting'])
  assert.equal(plain!.metadata['gen_ai.usage.reasoning.output_tokens'], '5')
  assert.deepEqual([streamed!.finish_reason, streamed!.reason_codes], ['length', ['truncated_by_length']])
})

function message(stop: string): unknown {
  return { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-test-1', stop_reason: stop, stop_sequence: null,
    content: [{ type: 'text', text: 'Likely viral; refer if fever persists.' }],
    usage: { input_tokens: 31, output_tokens: 12, cache_read_input_tokens: 100, cache_creation_input_tokens: 0 } }
}

for (const [stop, action, codes] of [['end_turn', 'ALLOW', []], ['refusal', 'REJECT', ['refusal']], ['max_tokens', 'ALLOW', ['truncated_by_length']]] as const) {
  test(`Anthropic message, stop_reason ${stop} -> ${action}`, async () => {
    const { transport, layer, sent, fetch } = setup(() => json(message(stop)))
    const client = createAuditedAnthropic(new Anthropic({ apiKey: 'k', baseURL: 'http://llm.test', fetch, maxRetries: 0 }), layer)
    const result = await client.messages.create({ model: 'claude-test-1', max_tokens: 256, system: 'You assist clinicians.',
      messages: [{ role: 'user', content: 'Fever and cough?' }], audit: { userId: 'dr-5', decisionType: 'diagnosis_assist' } } as Anthropic.MessageCreateParamsNonStreaming)
    assert.equal(result.stop_reason, stop)
    assert.equal(sent[0]!.audit, undefined)
    const [event] = await transport.events(1)
    assert.deepEqual(JSON.parse(event!.prompt!), { system: 'You assist clinicians.', messages: [{ role: 'user', content: 'Fever and cough?' }] })
    assert.deepEqual([event!.provider, event!.user_id, event!.response, event!.finish_reason], ['anthropic', 'dr-5', 'Likely viral; refer if fever persists.', stop])
    assert.deepEqual([event!.input_tokens, event!.output_tokens, event!.action, event!.reason_codes], [131, 12, action, codes])
    assert.deepEqual(event!.model_parameters, { max_tokens: '256' })
  })
}

test('Anthropic stream with a tool call', async () => {
  const { transport, layer, fetch } = setup(() => sse([
    ['message_start', { type: 'message_start', message: { ...(message('end_turn') as object), content: [], stop_reason: null, usage: { input_tokens: 20, output_tokens: 1 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Checking.' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'tu_1', name: 'chart', input: {} } }],
    ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"patient": "p-7"}' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 1 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 30 } }],
    ['message_stop', { type: 'message_stop' }],
  ]))
  const client = createAuditedAnthropic(new Anthropic({ apiKey: 'k', baseURL: 'http://llm.test', fetch, maxRetries: 0 }), layer)
  const stream = await client.messages.create({ model: 'claude-test-1', max_tokens: 99, messages: [], stream: true })
  const kinds: string[] = []
  for await (const event of stream) kinds.push(event.type)
  assert.equal(kinds[0], 'message_start')
  const [event] = await transport.events(1)
  assert.deepEqual(JSON.parse(event!.response!), { text: 'Checking.', tool_use: [{ id: 'tu_1', name: 'chart', input: { patient: 'p-7' } }] })
  assert.deepEqual([event!.finish_reason, event!.input_tokens, event!.output_tokens], ['tool_use', 20, 30])
})

test('wrapWithAudit records any async function and rethrows its errors', async () => {
  const transport = new KeepingTransport()
  const layer = new AuditLayer({ tenantId: 'acme-bank', transport })
  const score = wrapWithAudit(async (applicant: { id: number }) => ({ score: applicant.id * 10 }), layer,
    { provider: 'in-house', model: 'credit-gbm-v3', decisionType: 'credit_scoring', userId: 'svc-7' })
  assert.deepEqual(await score({ id: 42 }), { score: 420 })
  const broken = wrapWithAudit(async () => { throw new TypeError('model offline') }, layer, { provider: 'in-house' })
  await assert.rejects(broken(), TypeError)
  const [ok, failed] = await transport.events(2)
  assert.deepEqual([ok!.prompt, ok!.response, ok!.model, ok!.decision_type, ok!.user_id], ['{"id": 42}', '{"score": 420}', 'credit-gbm-v3', 'credit_scoring', 'svc-7'])
  assert.deepEqual([failed!.action, failed!.error_type], ['FAIL_RETRY', 'TypeError'])
})

test('bad values are logged and counted, never thrown; a full buffer drops and counts', async () => {
  const transport = new KeepingTransport({ maxBufferedEvents: 2, batchSize: 500, lingerMs: 10_000, maxBackoffMs: 10 })
  const layer = new AuditLayer({ tenantId: 'acme-bank', transport })
  const record = layer.start('x', 'chat', { confidence: 7 })
  assert.equal(record.emit(), false)
  for (let i = 0; i < 3; i++) layer.start('x', 'chat').emit()
  const stats = layer.stats()
  assert.deepEqual([stats.emitted, stats.errors, stats.dropped, stats.pending], [4, 1, 1, 2])
  assert.throws(() => new AuditLayer({}, {}), /AUDIT_LAYER_ORG_ID/)
  assert.throws(() => new AuditLayer({ tenantId: 't' }, { AUDIT_LAYER_CAPTURE: 'everything' }), /AUDIT_LAYER_CAPTURE="everything"/)
  await layer.close(100)
})
