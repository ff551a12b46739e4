// The audit event, field for field the Avro record dev.auditlayer.AuditEvent (snake_case on the
// wire, as the Python SDK writes it), and the checks the Python SDK's model applies.
import { createHash, randomBytes } from 'node:crypto'

import { pythonJson } from './json.js'

export const SDK_NAME = 'audit-layer-typescript'
export const SDK_VERSION = '0.1.0'
export const MAX_CONTENT_CHARS = 512 * 1024
export const MAX_ID_CHARS = 256

export type Action = 'ALLOW' | 'REJECT' | 'FAIL_RETRY'

export interface AuditEvent {
  event_id: string
  timestamp_us: number
  duration_ms: number | null
  tenant_id: string
  user_id: string | null
  session_id: string | null
  trace_id: string | null
  span_id: string | null
  provider: string | null
  operation: string | null
  model: string | null
  response_model: string | null
  model_parameters: Record<string, string>
  prompt: string | null
  prompt_sha256: string | null
  response: string | null
  response_sha256: string | null
  input_tokens: number | null
  output_tokens: number | null
  total_tokens: number | null
  finish_reason: string | null
  action: Action
  reason_codes: string[]
  error_type: string | null
  decision_type: string | null
  decision_outcome: string | null
  confidence: number | null
  reasoning: string | null
  compliance_tags: string[]
  metadata: Record<string, string>
  sdk_name: string
  sdk_version: string
  content_salt: string | null
}

export type EventFields = Partial<AuditEvent> & Pick<AuditEvent, 'event_id' | 'timestamp_us' | 'tenant_id'>

const ID_FIELDS = ['user_id', 'session_id', 'trace_id', 'span_id', 'provider', 'operation', 'model', 'response_model',
  'finish_reason', 'error_type', 'decision_type', 'decision_outcome'] as const
const TOKEN_FIELDS = ['input_tokens', 'output_tokens', 'total_tokens'] as const
const TEXT_FIELDS = ['prompt', 'response', 'reasoning'] as const

/** SHA-256 of salt || UTF-8 text, hex: the chain proves content through it. */
export function contentDigest(text: string, saltHex: string | null): string {
  return createHash('sha256').update(Buffer.from(saltHex ?? '', 'hex')).update(text, 'utf8').digest('hex')
}

export function newSalt(): string {
  return randomBytes(16).toString('hex')
}

/** Values of Avro maps are strings: each is stored JSON-encoded, so its type survives. */
export function jsonValues(values: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(values ?? {})) out[key] = pythonJson(value, true)
  return out
}

export class InvalidEventError extends Error {}

/** A complete event from the given fields, or InvalidEventError naming the first bad field. */
export function makeEvent(fields: EventFields): AuditEvent {
  const event: AuditEvent = {
    duration_ms: null, user_id: null, session_id: null, trace_id: null, span_id: null, provider: null, operation: null,
    model: null, response_model: null, model_parameters: {}, prompt: null, prompt_sha256: null, response: null,
    response_sha256: null, input_tokens: null, output_tokens: null, total_tokens: null, finish_reason: null,
    action: 'ALLOW', reason_codes: [], error_type: null, decision_type: null, decision_outcome: null, confidence: null,
    reasoning: null, compliance_tags: [], metadata: {}, sdk_name: SDK_NAME, sdk_version: SDK_VERSION, content_salt: null,
    ...stripUndefined(fields),
  }
  validate(event)
  return event
}

function stripUndefined(fields: EventFields): EventFields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as EventFields
}

function validate(e: AuditEvent): void {
  const fail = (field: string, problem: string): never => { throw new InvalidEventError(`${field}: ${problem}`) }
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(e.event_id)) fail('event_id', 'must be a UUID')
  if (!Number.isSafeInteger(e.timestamp_us) || e.timestamp_us < 0) fail('timestamp_us', 'must be a non-negative integer')
  if (typeof e.tenant_id !== 'string' || e.tenant_id.length === 0 || e.tenant_id.length > MAX_ID_CHARS) fail('tenant_id', 'required, 1..256 characters')
  // eslint-disable-next-line no-control-regex
  if (e.tenant_id !== e.tenant_id.trim() || /[\u0000-\u001f\u007f]/.test(e.tenant_id)) fail('tenant_id', 'must be printable with no surrounding whitespace')
  for (const name of ID_FIELDS) {
    const v = e[name]
    if (v !== null && (typeof v !== 'string' || v.length > MAX_ID_CHARS)) fail(name, 'must be a string of at most 256 characters')
  }
  for (const name of TOKEN_FIELDS) {
    const v = e[name]
    if (v !== null && (!Number.isSafeInteger(v) || v < 0)) fail(name, 'must be a non-negative integer')
  }
  for (const name of TEXT_FIELDS) {
    const v = e[name]
    if (v !== null && (typeof v !== 'string' || v.length > MAX_CONTENT_CHARS)) fail(name, `must be a string of at most ${MAX_CONTENT_CHARS} characters`)
  }
  if (e.duration_ms !== null && !(e.duration_ms >= 0)) fail('duration_ms', 'must be >= 0')
  if (e.confidence !== null && !(e.confidence >= 0 && e.confidence <= 1)) fail('confidence', 'must be within 0..1')
  if (!['ALLOW', 'REJECT', 'FAIL_RETRY'].includes(e.action)) fail('action', 'must be ALLOW, REJECT or FAIL_RETRY')
  if (e.content_salt !== null && !/^[0-9a-f]{32}$/.test(e.content_salt)) fail('content_salt', 'must be 32 hex characters')
  for (const name of ['prompt_sha256', 'response_sha256'] as const) {
    const v = e[name]
    if (v !== null && !/^[0-9a-f]{64}$/.test(v)) fail(name, 'must be 64 hex characters')
  }
  for (const name of ['reason_codes', 'compliance_tags'] as const) {
    if (!Array.isArray(e[name]) || e[name].some((v) => typeof v !== 'string')) fail(name, 'must be a list of strings')
  }
  for (const name of ['model_parameters', 'metadata'] as const) {
    if (typeof e[name] !== 'object' || Object.values(e[name]).some((v) => typeof v !== 'string')) fail(name, 'must map strings to strings')
  }
}
