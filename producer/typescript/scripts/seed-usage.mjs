// The integration document's TypeScript usage, as written, against the REST API named by the environment
// (AUDIT_LAYER_API_KEY, AUDIT_LAYER_ORG_ID, AUDIT_LAYER_API_URL); the LLM answered by a local fetch.
// Prints the layer's counters. Run by tests/integration/test_typescript_pipeline.py.
import OpenAI from 'openai'

import { auditLayer, createAuditedOpenAI, wrapWithAudit } from '../dist/src/index.js'

const completion = { id: 'c1', object: 'chat.completion', created: 1, model: 'gpt-4',
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Reset your password here.' } }],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 } }
const fetch = async () => new Response(JSON.stringify(completion), { headers: { 'content-type': 'application/json' } })
const openai = new OpenAI({ apiKey: 'sk-test', baseURL: 'http://llm.test/v1', fetch, maxRetries: 0 })

const config = { apiKey: process.env.AUDIT_LAYER_API_KEY, orgId: process.env.AUDIT_LAYER_ORG_ID, apiUrl: process.env.AUDIT_LAYER_API_URL }

const auditedCreate = wrapWithAudit(
  openai.chat.completions.create.bind(openai.chat.completions),
  config,
  { provider: 'openai', extractTokens: (r) => ({ prompt: r.usage?.prompt_tokens, completion: r.usage?.completion_tokens }) }
)

const response = await auditedCreate(
  { model: 'gpt-4', messages: [{ role: 'user', content: 'How do I reset my password?' }] },
  { userId: 'user_123', decisionType: 'support' }
)

const client = createAuditedOpenAI(openai, config)
await client.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'And my email?' }] },
  { userId: 'user_456', decisionType: 'support', complianceTags: ['SOC2'] })

const layer = auditLayer(config)
const pending = await layer.flush(20_000)
console.log(JSON.stringify({ answer: response.choices[0].message.content, pending, ...layer.stats() }))
await layer.close(1_000)
