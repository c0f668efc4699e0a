// Turning a column value (from the CLI, from mysql2 or from a binlog event) into what a vindex hashes.

export type VindexValue = string | number | bigint | Buffer | null | undefined

export class VindexError extends Error {
  override name = 'VindexError'
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
    throw new VindexError(`NULL has no keyspace id: the ${vindex} vindex needs a value (a row with NULL in its sharding column cannot be placed)`)
  }
  let n: bigint
  if (typeof value === 'bigint') n = value
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new VindexError(`value ${show(value)} is not an exact integer: the ${vindex} vindex needs an integer`)
    n = BigInt(value)
  } else if (typeof value === 'string' && /^-?[0-9]+$/.test(value.trim())) n = BigInt(value.trim())
  else if (Buffer.isBuffer(value) && /^-?[0-9]+$/.test(value.toString('latin1'))) n = BigInt(value.toString('latin1'))
  else throw new VindexError(`value ${show(value)} is not an integer: the ${vindex} vindex needs an integer column value`)
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
    throw new VindexError(`NULL has no keyspace id: the ${vindex} vindex needs a value (a row with NULL in its sharding column cannot be placed)`)
  }
  if (Buffer.isBuffer(value)) return value
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (typeof value === 'bigint') return Buffer.from(value.toString(), 'latin1')
  if (typeof value === 'number' && Number.isFinite(value)) return Buffer.from(String(value), 'latin1')
  throw new VindexError(`value ${show(value)} cannot be hashed by the ${vindex} vindex`)
}

const TWO32 = 4294967296

/**
 * Write a value's uint64 big-endian at `off` of `out`. Safe integers and short decimal strings (the common case:
 * mysql2 gives BIGINT as text) take a path without BigInt; everything else goes through toUint64.
 */
export function writeUint64(value: VindexValue, vindex: string, out: Buffer, off: number): void {
  let n: number | undefined
  if (typeof value === 'number' && Number.isSafeInteger(value)) n = value
  else if (typeof value === 'string' && value.length > 0 && value.length <= 15 && /^-?[0-9]+$/.test(value)) n = Number(value)
  if (n === undefined) {
    out.writeBigUInt64BE(toUint64(value, vindex), off)
    return
  }
  if (n >= 0) {
    out.writeUInt32BE(Math.floor(n / TWO32), off)
    out.writeUInt32BE(n >>> 0, off + 4)
  } else {
    // Two's complement of a negative safe integer.
    const m = -n - 1
    out.writeUInt32BE(~Math.floor(m / TWO32) >>> 0, off)
    out.writeUInt32BE(~(m >>> 0) >>> 0, off + 4)
  }
}
