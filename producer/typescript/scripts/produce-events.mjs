// Produces N audit events from the TypeScript SDK to `${AUDIT_LAYER_TOPIC_PREFIX}audit.events`, as
// an application would (the Python pipeline test runs it):  node scripts/produce-events.mjs 300
import { AuditLayer } from '../dist/src/index.js'

const count = Number(process.argv[2] ?? 100)
const tenants = ['acme-bank', 'mercy-clinic', 'globex-hr']
const layers = new Map(tenants.map((t) => [t, new AuditLayer({ tenantId: t })]))
for (let i = 0; i < count; i++) {
  const tenant = tenants[i % tenants.length]
  const record = layers.get(tenant).start('openai', 'chat', {
    userId: `u-${i % 7}`, sessionId: `s-${i % 11}`, decisionType: i % 2 ? 'loan_underwriting' : 'support_reply',
    decisionOutcome: i % 5 === 0 ? 'denied' : 'approved', complianceTags: ['SOC2'], metadata: { index: i },
  })
  record.input(JSON.stringify([{ role: 'user', content: `request ${i} from node` }]), 'gpt-4o-mini', { temperature: 0.2 })
  record.output({ response: `answer ${i}`, finishReason: i % 13 === 0 ? 'length' : 'stop', inputTokens: 10 + i, outputTokens: 5 })
  record.action('ALLOW', i % 13 === 0 ? ['truncated_by_length'] : [])
  record.emit()
}
let pending = 0
for (const layer of layers.values()) {
  pending += await layer.flush(30_000)
  await layer.close()
}
const delivered = [...layers.values()].reduce((n, l) => n + l.stats().delivered, 0)
console.log(JSON.stringify({ produced: count, delivered, pending }))
process.exit(pending === 0 && delivered === count ? 0 : 1)
