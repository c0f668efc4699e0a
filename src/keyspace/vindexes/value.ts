// Turning a column value (from the CLI, from mysql2 or from a binlog event) into what a vindex hashes.
import {ShardformError, type ErrorParts} from '../../errors.js'

export type VindexValue = string | number | bigint | Buffer | null | undefined

export class VindexError extends ShardformError {
  override name = 'VindexError'
  constructor(summary: string, parts: ErrorParts = {}) {
    super(summary, {code: 'vindex', ...parts})
  }
}

const MIN_INT64 = -(1n << 63n)
const MAX_UINT64 = (1n << 64n) - 1n

function show(value: VindexValue): string {
  if (Buffer.isBuffer(value)) return `0x${value.toString('hex')}`
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

/** An integer value as uint64 (negatives as two's complement), as Vitess's numeric vindexes read it. */
export function toUint64(value: VindexValue, vindex: string): bigint {
  if (value === null || value === undefined) {
    throw new VindexError(
      `NULL has no keyspace id: the ${vindex} vindex needs a value (a row with NULL in its sharding column cannot be placed)`,
    )
  }
  let n: bigint
  if (typeof value === 'bigint') n = value
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value))
      throw new VindexError(`value ${show(value)} is not an exact integer: the ${vindex} vindex needs an integer`)
    n = BigInt(value)
  } else if (typeof value === 'string' && /^-?[0-9]+$/.test(value.trim())) n = BigInt(value.trim())
  else if (Buffer.isBuffer(value) && /^-?[0-9]+$/.test(value.toString('latin1'))) n = BigInt(value.toString('latin1'))
  else
    throw new VindexError(`value ${show(value)} is not an integer: the ${vindex} vindex needs an integer column value`)
  if (n < MIN_INT64 || n > MAX_UINT64) {
    throw new VindexError(`value ${show(value)} is out of range: the ${vindex} vindex takes 64-bit integers`)
  }
  return BigInt.asUintN(64, n)
}

export function uint64Bytes(n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(n)
  return b
}

/** The raw bytes of a value, as Vitess's byte-oriented vindexes read it (integers as decimal text). */
export function toBytes(value: VindexValue, vindex: string): Buffer {
  if (value === null || value === undefined) {
    throw new VindexError(
      `NULL has no keyspace id: the ${vindex} vindex needs a value (a row with NULL in its sharding column cannot be placed)`,
    )
  }
  if (Buffer.isBuffer(value)) return value
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (typeof value === 'bigint') return Buffer.from(value.toString(), 'latin1')
  if (typeof value === 'number' && Number.isFinite(value)) return Buffer.from(String(value), 'latin1')
  throw new VindexError(`value ${show(value)} cannot be hashed by the ${vindex} vindex`)
}

const TWO32 = 4294967296
const MASK32 = 0xffffffffn

/**
 * A value's uint64 as two 32-bit halves in `out` (high, low). Safe integers and short decimal strings (the common
 * case: mysql2 gives BIGINT as text) take a path without BigInt; everything else goes through toUint64.
 */
export function uint64Halves(value: VindexValue, vindex: string, out: Uint32Array): void {
  let n: number | undefined
  if (typeof value === 'number' && Number.isSafeInteger(value)) n = value
  else if (typeof value === 'string' && value.length > 0 && value.length <= 15 && /^-?[0-9]+$/.test(value))
    n = Number(value)
  else if (typeof value === 'string' && decimalHalves(value, out)) return
  if (n === undefined) {
    const big = toUint64(value, vindex)
    out[0] = Number(big >> 32n)
    out[1] = Number(big & MASK32)
  } else if (n >= 0) {
    out[0] = Math.floor(n / TWO32)
    out[1] = n >>> 0
  } else {
    // Two's complement of a negative safe integer.
    const m = -n - 1
    out[0] = ~Math.floor(m / TWO32) >>> 0
    out[1] = ~(m >>> 0) >>> 0
  }
}

/**
 * A decimal string of a 64-bit integer (-2^63 … 2^64-1) as halves without BigInt, four digits at a time in exact
 * double arithmetic. False when the text is not such a number (the caller takes the general path and its errors).
 */
function decimalHalves(s: string, out: Uint32Array): boolean {
  const neg = s.charCodeAt(0) === 45
  const from = neg ? 1 : 0
  if (s.length - from < 1 || s.length - from > 20) return false
  let hi = 0
  let lo = 0
  for (let i = from; i < s.length; i += 4) {
    const end = Math.min(i + 4, s.length)
    let g = 0
    let m = 1
    for (let j = i; j < end; j++) {
      const d = s.charCodeAt(j) - 48
      if (d < 0 || d > 9) return false
      g = g * 10 + d
      m *= 10
    }
    const low = lo * m + g
    const carry = Math.floor(low / TWO32)
    lo = low - carry * TWO32
    hi = hi * m + carry
    if (hi >= TWO32) return false
  }
  if (neg) {
    // Magnitude at most 2^63; two's complement: invert and add one.
    if (hi > 0x80000000 || (hi === 0x80000000 && lo > 0)) return false
    lo = (~lo >>> 0) + 1
    hi = ~hi >>> 0
    if (lo === TWO32) {
      lo = 0
      hi = (hi + 1) >>> 0
    }
  }
  out[0] = hi
  out[1] = lo
  return true
}
