// JSON as the Python SDK writes it (json.dumps with sort_keys=True, ensure_ascii=False), so a
// prompt or a metadata value recorded from Node.js is the same text as from Python.
//   compact: separators (",", ":") as for map values; else (", ", ": ") as for prompts.

export function pythonJson(value: unknown, compact = false): string {
  const comma = compact ? ',' : ', '
  const colon = compact ? ':' : ': '
  const write = (v: unknown): string => {
    if (v === null || v === undefined) return 'null'
    if (typeof v === 'string') return JSON.stringify(v)
    if (typeof v === 'number') return Number.isFinite(v) ? pythonNumber(v) : v > 0 ? 'Infinity' : v < 0 ? '-Infinity' : 'NaN'
    if (typeof v === 'boolean') return v ? 'true' : 'false'
    if (typeof v === 'bigint') return v.toString()
    if (Array.isArray(v)) return `[${v.map(write).join(comma)}]`
    if (typeof v === 'object') {
      const asJson = (v as { toJSON?: () => unknown }).toJSON
      if (typeof asJson === 'function') return write(asJson.call(v))
      const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort(byCodePoint)
      return `{${keys.map((k) => `${JSON.stringify(k)}${colon}${write((v as Record<string, unknown>)[k])}`).join(comma)}}`
    }
    return JSON.stringify(String(v))
  }
  return write(value)
}

function pythonNumber(n: number): string {
  if (Number.isSafeInteger(n)) return n.toFixed(0)
  const [mantissa, exponent] = String(n).split('e')
  if (exponent === undefined) return mantissa!
  // Python's float repr writes the exponent's sign always and at least two digits: 1e-07, 1e+21
  const sign = exponent.startsWith('-') ? '-' : '+'
  return `${mantissa}e${sign}${exponent.replace(/^[+-]/, '').padStart(2, '0')}`
}

export function byCodePoint(a: string, b: string): number {
  const left = Array.from(a)
  const right = Array.from(b)
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const diff = left[i]!.codePointAt(0)! - right[i]!.codePointAt(0)!
    if (diff !== 0) return diff
  }
  return left.length - right.length
}
