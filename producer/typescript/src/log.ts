// The SDK's warnings go to console.warn, at most one per kind every 10 seconds, with a count of
// the ones held back: a dead broker must not flood the application's logs.
const WINDOW_MS = 10_000
const last = new Map<string, { at: number; suppressed: number }>()

export const log = {
  warn(kind: string, message: string): void {
    const now = Date.now()
    const entry = last.get(kind)
    if (entry && now - entry.at < WINDOW_MS) {
      entry.suppressed += 1
      return
    }
    const suppressed = entry?.suppressed ?? 0
    last.set(kind, { at: now, suppressed: 0 })
    console.warn(`[audit-layer] ${message}${suppressed ? ` (${suppressed} similar messages suppressed)` : ''}`)
  },
}
