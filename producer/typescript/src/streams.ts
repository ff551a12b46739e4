// A provider's stream passed through unchanged (same object, same chunks), recorded when it ends,
// fails, or is left early (`break` calls return()); one never iterated is recorded when collected.
import { type CallRecord } from './layer.js'
import { log } from './log.js'

export interface StreamAccumulator {
  add(chunk: unknown): void
  apply(record: CallRecord): void
}

const collected = new FinalizationRegistry<() => void>((finish) => finish())

export function recordStream<S extends object>(stream: S, record: CallRecord, accumulator: StreamAccumulator): S {
  const started = performance.now()
  let firstChunkMs: number | null = null
  let done = false
  const finish = (how: 'complete' | 'abandoned' | 'failed', error?: unknown): void => {
    if (done) return
    done = true
    try {
      accumulator.apply(record)
      if (firstChunkMs !== null) record.addMetadata('gen_ai.response.time_to_first_chunk', Math.round(firstChunkMs * 1000) / 1e6) // OpenTelemetry's unit: seconds
      const cut = how === 'abandoned' ? 'stream_abandoned' : how === 'complete' && record.fields.finish_reason == null ? 'stream_incomplete' : null
      if (cut) record.action(record.fields.action ?? 'ALLOW', [...(record.fields.reason_codes ?? []), cut])
    } catch (e) {
      log.warn('stream-finish', `audit stream not captured: ${String(e)}`)
    }
    if (how === 'failed') record.failed(error)
    else record.emit()
  }
  const wrapper = new Proxy(stream, {
    get(target, property, receiver) {
      if (property !== Symbol.asyncIterator) {
        const value: unknown = Reflect.get(target, property, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      }
      return () => {
        const inner = (target as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        return {
          async next(): Promise<IteratorResult<unknown>> {
            let result: IteratorResult<unknown>
            try {
              result = await inner.next()
            } catch (error) {
              finish('failed', error)
              throw error
            }
            if (result.done) {
              finish('complete')
            } else {
              firstChunkMs ??= performance.now() - started
              try {
                accumulator.add(result.value)
              } catch (e) {
                log.warn('stream-chunk', `audit stream chunk not captured: ${String(e)}`)
              }
            }
            return result
          },
          async return(value?: unknown): Promise<IteratorResult<unknown>> {
            finish('abandoned')
            return inner.return ? inner.return(value) : { done: true, value }
          },
          [Symbol.asyncIterator]() { return this },
        }
      }
    },
  })
  collected.register(wrapper, () => finish('abandoned'))
  return wrapper
}
