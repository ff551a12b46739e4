// Drop-ins: createAuditedOpenAI / createAuditedAnthropic return the client itself behind a Proxy
// in which `chat.completions.create` / `messages.create` are recorded (plain and stream: true);
// wrapWithAudit records any async function. Audit options go in an `audit` field of the request,
// removed before the provider sees it. The provider's result or error reaches the caller unchanged.
import { type Action } from './event.js'
import { pythonJson } from './json.js'
import { type AuditConfig, AuditLayer, type AuditOptions, type CallRecord } from './layer.js'
import { log } from './log.js'
import { recordStream, type StreamAccumulator } from './streams.js'

type AnyFunction = (...args: never[]) => unknown
const layers = new WeakMap<AuditConfig, AuditLayer>()

export function auditLayer(config: AuditLayer | AuditConfig): AuditLayer {
  if (config instanceof AuditLayer) return config
  let layer = layers.get(config)
  if (!layer) {
    layer = new AuditLayer(config)
    layers.set(config, layer)
  }
  return layer
}

export interface WrapOptions<A extends unknown[] = unknown[], R = unknown> extends AuditOptions {
  provider?: string
  operation?: string
  model?: string
  /** How to read the call (the integration document's names); each defaults to the arguments and result as JSON.
   *  The result is `any` on purpose: a provider's overloaded `create` returns a union (a completion or a stream)
   *  that the document's extractors, such as `(r) => r.usage?.prompt_tokens`, do not narrow. */
  extractPrompt?: (args: A) => string
  extractResponse?: (result: any) => string
  extractTokens?: (result: any) => { prompt?: number | null; completion?: number | null }
  extractModel?: (args: A) => string
}

// the per-call audit options a wrapped function may take as its last argument: (args, { userId, ... })
const CALL_OPTIONS = new Set(['tenantId', 'userId', 'sessionId', 'traceId', 'spanId', 'decisionType', 'decisionOutcome',
  'confidence', 'reasoning', 'complianceTags', 'metadata'])

function callOptions(args: unknown[]): [unknown[], AuditOptions] {
  const last = args[args.length - 1]
  if (args.length >= 2 && last !== null && typeof last === 'object' && !Array.isArray(last) &&
      Object.getPrototypeOf(last) === Object.prototype && Object.keys(last).length > 0 &&
      Object.keys(last).every((k) => CALL_OPTIONS.has(k))) {
    return [args.slice(0, -1), last as AuditOptions]
  }
  return [args, {}]
}

/** Any async call, recorded: its arguments as the prompt, its result as the response (or what the extract
 *  functions read from them). A last argument made only of audit options (`{ userId, decisionType, ... }`)
 *  is taken as this call's audit options and not passed on. */
export function wrapWithAudit<A extends unknown[], R>(fn: (...args: A) => Promise<R>, config: AuditLayer | AuditConfig,
  options: WrapOptions<A, R> = {}): (first?: A[0], ...rest: unknown[]) => Promise<R> {
  const layer = auditLayer(config)
  return async (...given: unknown[]): Promise<R> => {
    const [args, perCall] = callOptions(given) as [A, AuditOptions]
    const record = safely(() => {
      const prompt = options.extractPrompt ? options.extractPrompt(args) : pythonJson(args.length === 1 ? args[0] : args)
      const first = args[0] as { model?: unknown } | null | undefined
      const model = options.extractModel ? options.extractModel(args)
        : options.model ?? (typeof first?.model === 'string' ? first.model : null)  // a request's own model, when it has one
      return layer.start(options.provider ?? null, options.operation ?? null, { ...options, ...perCall })
        .input(prompt, model)
    })
    let result: R
    try {
      result = await fn(...args)
    } catch (error) {
      safely(() => record?.failed(error))
      if (!layer.asyncLogging) await layer.flush()
      throw error
    }
    safely(() => {
      const response = options.extractResponse ? options.extractResponse(result)
        : typeof result === 'string' ? result : pythonJson(result)
      const tokens = options.extractTokens?.(result) ?? {}
      record?.output({ response, inputTokens: tokens.prompt ?? null, outputTokens: tokens.completion ?? null }).emit()
    })
    if (!layer.asyncLogging) await layer.flush()
    return result
  }
}

function safely<T>(step: () => T): T | undefined {
  try {
    return step()
  } catch (error) {
    log.warn('capture', `audit capture failed: ${String(error)}`)
    return undefined
  }
}

interface Adapter {
  provider: string
  input(record: CallRecord, params: Record<string, unknown>): void
  output(record: CallRecord, response: unknown): void
  accumulator(): StreamAccumulator
}

function recordedCreate(create: AnyFunction, target: object, layer: AuditLayer, adapter: Adapter) {
  return async (params: Record<string, unknown> & { audit?: AuditOptions }, ...more: unknown[]): Promise<unknown> => {
    const { audit, ...request } = params ?? {}
    // audit options in the request's `audit` field, or as the second argument (the integration document's form)
    const [rest, perCall] = callOptions([params, ...more])
    rest.shift()
    const record = safely(() => {
      const r = layer.start(adapter.provider, 'chat', { ...perCall, ...(audit ?? {}) })
      adapter.input(r, request)
      return r
    })
    let response: unknown
    try {
      response = await (create as (...a: unknown[]) => Promise<unknown>).call(target, request, ...rest)
    } catch (error) {
      safely(() => record?.failed(error))
      throw error
    }
    if (!record) return response
    if (request.stream === true && response && typeof response === 'object') {
      return safely(() => recordStream(response as object, record, adapter.accumulator())) ?? response
    }
    safely(() => {
      adapter.output(record, response)
      record.emit()
    })
    if (!layer.asyncLogging) await layer.flush()
    return response
  }
}

/** A Proxy over `root` where the method at `path` is replaced; everything else passes through. */
function intercept<T extends object>(root: T, path: string[], replace: (fn: AnyFunction, owner: object) => unknown): T {
  const [head, ...tail] = path
  return new Proxy(root, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (property !== head || value == null) return value
      if (tail.length === 0) return typeof value === 'function' ? replace(value as AnyFunction, target) : value
      return typeof value === 'object' ? intercept(value, tail, replace) : value
    },
  })
}

const pick = (params: Record<string, unknown>, names: string[]): Record<string, unknown> =>
  Object.fromEntries(names.filter((n) => params[n] !== undefined).map((n) => [n, params[n]]))

// -- OpenAI ---------------------------------------------------------------------------------------

const OPENAI_PARAMETERS = ['temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'frequency_penalty',
  'presence_penalty', 'seed', 'n', 'stop', 'response_format', 'tool_choice']

export function finishReasonAction(finish: string | null | undefined): [Action, string[]] {
  if (finish === 'content_filter') return ['REJECT', ['content_filter']]
  if (finish === 'length') return ['ALLOW', ['truncated_by_length']]
  return ['ALLOW', []]
}

interface ChatUsage {
  prompt_tokens?: number
  completion_tokens?: number
  total_tokens?: number
  prompt_tokens_details?: { cached_tokens?: number }
  completion_tokens_details?: { reasoning_tokens?: number }
}

function chatUsage(usage: ChatUsage | null | undefined) {
  if (!usage) return {}
  const extra: Record<string, number> = {}
  if (usage.prompt_tokens_details?.cached_tokens != null) extra['gen_ai.usage.cache_read.input_tokens'] = usage.prompt_tokens_details.cached_tokens
  if (usage.completion_tokens_details?.reasoning_tokens != null) extra['gen_ai.usage.reasoning.output_tokens'] = usage.completion_tokens_details.reasoning_tokens
  return { inputTokens: usage.prompt_tokens ?? null, outputTokens: usage.completion_tokens ?? null,
    totalTokens: usage.total_tokens ?? null, usageMetadata: extra }
}

function chatOutcome(record: CallRecord, finish: string | null, refusal: string | null): void {
  const [action, codes] = refusal ? ['REJECT' as Action, ['refusal']] : finishReasonAction(finish)
  record.action(action, codes)
}

interface ChatCompletion {
  model?: string
  usage?: ChatUsage
  choices?: { finish_reason?: string | null; message?: { content?: string | null; refusal?: string | null; tool_calls?: unknown[] } }[]
}

const openAIChat: Adapter = {
  provider: 'openai',
  input(record, params) {
    const messages = params.messages
    record.input(messages == null ? null : pythonJson(messages), (params.model as string | undefined) ?? null,
      pick(params, OPENAI_PARAMETERS))
  },
  output(record, response) {
    const completion = response as ChatCompletion
    const choice = completion.choices?.[0]
    const message = choice?.message
    const refusal = message?.refusal ?? null
    let text = message?.content ?? refusal
    if (text == null && message?.tool_calls?.length) text = pythonJson(message.tool_calls)
    record.output({ response: text, finishReason: choice?.finish_reason ?? null, responseModel: completion.model ?? null,
      ...chatUsage(completion.usage) })
    chatOutcome(record, choice?.finish_reason ?? null, refusal)
  },
  accumulator() {
    const text: string[] = []
    const refusal: string[] = []
    const calls = new Map<number, { id: string | null; name: string; arguments: string }>()
    let finish: string | null = null
    let usage: ChatUsage | null = null
    let model: string | null = null
    return {
      add(chunk) {
        const c = chunk as { model?: string; usage?: ChatUsage | null; choices?: { index: number; finish_reason?: string | null;
          delta?: { content?: string | null; refusal?: string | null; tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[] } }[] }
        model = c.model ?? model
        if (c.usage) usage = c.usage
        for (const choice of c.choices ?? []) {
          if (choice.index !== 0) continue
          if (choice.delta?.content) text.push(choice.delta.content)
          if (choice.delta?.refusal) refusal.push(choice.delta.refusal)
          for (const call of choice.delta?.tool_calls ?? []) {
            const entry = calls.get(call.index) ?? { id: null, name: '', arguments: '' }
            entry.id = call.id ?? entry.id
            entry.name += call.function?.name ?? ''
            entry.arguments += call.function?.arguments ?? ''
            calls.set(call.index, entry)
          }
          if (choice.finish_reason) finish = choice.finish_reason
        }
      },
      apply(record) {
        const refused = refusal.join('') || null
        let response: string | null = text.length ? text.join('') : refused
        if (response == null && calls.size) response = pythonJson([...calls.keys()].sort((a, b) => a - b).map((i) => calls.get(i)))
        record.output({ response, finishReason: finish, responseModel: model, ...chatUsage(usage) })
        chatOutcome(record, finish, refused)
      },
    }
  },
}

const RESPONSES_PARAMETERS = ['temperature', 'top_p', 'max_output_tokens', 'reasoning', 'tool_choice', 'text', 'truncation',
  'previous_response_id', 'service_tier']

interface ResponseObject {
  model?: string
  status?: string
  incomplete_details?: { reason?: string | null } | null
  error?: { code?: string | null } | null
  output?: { type: string; content?: { type: string; text?: string; refusal?: string }[]; call_id?: string; name?: string; arguments?: string }[]
  usage?: { input_tokens?: number; output_tokens?: number; total_tokens?: number; input_tokens_details?: { cached_tokens?: number };
    output_tokens_details?: { reasoning_tokens?: number } } | null
}

// The Responses API has no finish reason; derived as the Python SDK derives it (openai_responses.py)
function recordResponseObject(record: CallRecord, response: ResponseObject): void {
  const texts: string[] = []
  const refusals: string[] = []
  const calls: { call_id?: string; name?: string; arguments?: string }[] = []
  for (const item of response.output ?? []) {
    if (item.type === 'message') {
      for (const part of item.content ?? []) {
        if (part.type === 'output_text') texts.push(part.text ?? '')
        else if (part.type === 'refusal') refusals.push(part.refusal ?? '')
      }
    } else if (item.type === 'function_call') {
      calls.push({ call_id: item.call_id, name: item.name, arguments: item.arguments })
    }
  }
  const refusal = refusals.join('') || null
  let content: string | null = texts.join('') || refusal
  if (calls.length) content = content ? pythonJson({ text: content, function_calls: calls }) : pythonJson(calls)
  const reason = response.incomplete_details?.reason ?? null
  const finish = response.status === 'incomplete'
    ? ({ max_output_tokens: 'length', content_filter: 'content_filter' } as Record<string, string>)[reason ?? ''] ?? reason ?? 'length'
    : response.status === 'failed' ? 'error' : calls.length ? 'tool_calls' : 'stop'
  const usage = response.usage
  const extra: Record<string, number> = {}
  if (usage?.input_tokens_details?.cached_tokens != null) extra['gen_ai.usage.cache_read.input_tokens'] = usage.input_tokens_details.cached_tokens
  if (usage?.output_tokens_details?.reasoning_tokens != null) extra['gen_ai.usage.reasoning.output_tokens'] = usage.output_tokens_details.reasoning_tokens
  record.output({ response: content, finishReason: finish, responseModel: response.model ?? null, inputTokens: usage?.input_tokens ?? null,
    outputTokens: usage?.output_tokens ?? null, totalTokens: usage?.total_tokens ?? null, usageMetadata: extra })
  if (finish === 'error') {
    const code = response.error?.code
    record.action('FAIL_RETRY', ['provider_error', ...(code ? [`error_${code}`] : [])], 'ResponseFailed')
  } else if (refusal || finish === 'content_filter') {
    record.action('REJECT', [refusal ? 'refusal' : 'content_filter'])
  } else {
    record.action('ALLOW', finish === 'length' ? ['truncated_by_length'] : [])
  }
}

const openAIResponses: Adapter = {
  provider: 'openai',
  input(record, params) {
    record.input(pythonJson({ instructions: params.instructions ?? null, input: params.input ?? null }),
      (params.model as string | undefined) ?? null, pick(params, RESPONSES_PARAMETERS))
  },
  output(record, response) {
    recordResponseObject(record, response as ResponseObject)
  },
  accumulator() {
    let final: ResponseObject | null = null
    let model: string | null = null
    const text: string[] = []
    return {
      add(event) {
        const e = event as { type: string; response?: ResponseObject; delta?: string }
        if (e.type === 'response.completed' || e.type === 'response.incomplete' || e.type === 'response.failed') final = e.response ?? null
        else if (e.type === 'response.created') model = e.response?.model ?? null
        else if (e.type === 'response.output_text.delta') text.push(e.delta ?? '')
      },
      apply(record) {
        if (final) recordResponseObject(record, final)
        else record.output({ response: text.join('') || null, responseModel: model })
      },
    }
  },
}

/** `openai` (an OpenAI client instance) with `chat.completions.create` and `responses.create` recorded. */
export function createAuditedOpenAI<T extends object>(openai: T, config: AuditLayer | AuditConfig): T {
  const layer = auditLayer(config)
  const chat = intercept(openai, ['chat', 'completions', 'create'], (fn, owner) => recordedCreate(fn, owner, layer, openAIChat))
  return intercept(chat, ['responses', 'create'], (fn, owner) => recordedCreate(fn, owner, layer, openAIResponses))
}

// -- Anthropic ------------------------------------------------------------------------------------

const ANTHROPIC_PARAMETERS = ['max_tokens', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'tool_choice', 'thinking']

export function stopReasonAction(stop: string | null | undefined): [Action, string[]] {
  if (stop === 'refusal') return ['REJECT', ['refusal']]
  if (stop === 'max_tokens') return ['ALLOW', ['truncated_by_length']]
  return ['ALLOW', []]
}

interface MessageUsage { input_tokens?: number | null; output_tokens?: number | null; cache_read_input_tokens?: number | null; cache_creation_input_tokens?: number | null }
type Block = { type: string; text?: string; id?: string; name?: string; input?: unknown }

function messageUsage(usage: MessageUsage | null | undefined) {
  if (!usage) return {}
  const read = usage.cache_read_input_tokens ?? null
  const written = usage.cache_creation_input_tokens ?? null
  const extra: Record<string, number> = {}
  if (read != null) extra['gen_ai.usage.cache_read.input_tokens'] = read
  if (written != null) extra['gen_ai.usage.cache_creation.input_tokens'] = written
  // OpenTelemetry counts cache reads and writes inside the input tokens; Anthropic beside them
  const input = usage.input_tokens == null ? null : usage.input_tokens + (read ?? 0) + (written ?? 0)
  return { inputTokens: input, outputTokens: usage.output_tokens ?? null, usageMetadata: extra }
}

function blocksText(blocks: Block[]): string | null {
  const texts = blocks.filter((b) => b.type === 'text').map((b) => b.text ?? '')
  const tools = blocks.filter((b) => b.type === 'tool_use').map((b) => ({ id: b.id, name: b.name, input: b.input }))
  if (texts.length && !tools.length) return texts.join('')
  if (tools.length) return texts.length ? pythonJson({ text: texts.join(''), tool_use: tools }) : pythonJson(tools)
  return null
}

const anthropicMessages: Adapter = {
  provider: 'anthropic',
  input(record, params) {
    record.input(pythonJson({ system: params.system ?? null, messages: params.messages ?? null }),
      (params.model as string | undefined) ?? null, pick(params, ANTHROPIC_PARAMETERS))
  },
  output(record, response) {
    const message = response as { content?: Block[]; stop_reason?: string | null; model?: string; usage?: MessageUsage }
    record.output({ response: blocksText(message.content ?? []), finishReason: message.stop_reason ?? null,
      responseModel: message.model ?? null, ...messageUsage(message.usage) })
    const [action, codes] = stopReasonAction(message.stop_reason)
    record.action(action, codes)
  },
  accumulator() {
    const blocks = new Map<number, Block & { json: string }>()
    const usage: MessageUsage = {}
    let stop: string | null = null
    let model: string | null = null
    const takeUsage = (u: MessageUsage | undefined): void => {
      for (const name of ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const) {
        if (u?.[name] != null) usage[name] = u[name]
      }
    }
    return {
      add(event) {
        const e = event as { type: string; index?: number; message?: { model?: string; usage?: MessageUsage }; usage?: MessageUsage;
          content_block?: Block; delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null } }
        if (e.type === 'message_start') {
          model = e.message?.model ?? model
          takeUsage(e.message?.usage)
        } else if (e.type === 'content_block_start' && e.content_block) {
          blocks.set(e.index ?? 0, { ...e.content_block, text: e.content_block.text ?? '', json: '' })
        } else if (e.type === 'content_block_delta') {
          const block = blocks.get(e.index ?? 0) ?? { type: 'text', text: '', json: '' }
          if (e.delta?.type === 'text_delta') block.text = (block.text ?? '') + (e.delta.text ?? '')
          if (e.delta?.type === 'input_json_delta') block.json += e.delta.partial_json ?? ''
          blocks.set(e.index ?? 0, block)
        } else if (e.type === 'message_delta') {
          stop = e.delta?.stop_reason ?? stop
          takeUsage(e.usage)
        }
      },
      apply(record) {
        const ordered = [...blocks.keys()].sort((a, b) => a - b).map((i) => blocks.get(i)!)
          .map((b) => (b.type === 'tool_use' ? { ...b, input: parseJson(b.json) } : b))
        record.output({ response: blocksText(ordered), finishReason: stop, responseModel: model, ...messageUsage(usage) })
        const [action, codes] = stopReasonAction(stop)
        record.action(action, codes)
      },
    }
  },
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : {}
  } catch {
    return text  // a stream cut inside a tool's arguments: keep what arrived
  }
}

/** `anthropic` (an Anthropic client instance) with messages recorded. */
export function createAuditedAnthropic<T extends object>(anthropic: T, config: AuditLayer | AuditConfig): T {
  const layer = auditLayer(config)
  return intercept(anthropic, ['messages', 'create'], (fn, owner) => recordedCreate(fn, owner, layer, anthropicMessages))
}
