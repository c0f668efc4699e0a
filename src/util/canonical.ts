import {createHash} from 'node:crypto'

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJSON(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    // No prototype: a key named "__proto__" (JSON.parse makes it an own property) stays a key and is covered by
    // checksums and fingerprints, instead of silently setting the prototype and vanishing from the text.
    const out: Record<string, unknown> = Object.create(null)
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k]
      if (x !== undefined) out[k] = sortKeys(x)
    }
    return out
  }
  return v
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

export function deepEqual(a: unknown, b: unknown): boolean {
  return canonicalJSON(a) === canonicalJSON(b)
}
