import {createDecipheriv} from 'node:crypto'
import {desZeroKey} from './des.js'
import {uint64Halves, VindexError, type VindexValue} from './value.js'

// Vitess `hash`: 3DES with an all-zero key, which is DES with a zero key, on the value's 8 big-endian bytes.
const halves = new Uint32Array(2)

export function hashVindex(value: VindexValue): Buffer {
  uint64Halves(value, 'hash', halves)
  const out = Buffer.allocUnsafe(8)
  desZeroKey(halves[0], halves[1], out, 0)
  return out
}

/** Many values at once, their 8-byte keyspace ids back to back in one buffer. */
export function hashVindexFlat(values: VindexValue[]): Buffer {
  const out = Buffer.allocUnsafe(values.length * 8)
  for (let i = 0; i < values.length; i++) {
    uint64Halves(values[i], 'hash', halves)
    desZeroKey(halves[0], halves[1], out, i * 8)
  }
  return out
}

export function hashVindexMany(values: VindexValue[]): Buffer[] {
  const out = hashVindexFlat(values)
  return values.map((_, i) => out.subarray(i * 8, i * 8 + 8))
}

/** The `hash` vindex is reversible: keyspace id → the uint64 it came from. */
export function unhash(keyspaceId: Buffer): bigint {
  if (keyspaceId.length !== 8)
    throw new VindexError(`keyspace id ${keyspaceId.toString('hex')} is not 8 bytes: not a hash vindex output`)
  const d = createDecipheriv('des-ede3', Buffer.alloc(24), null)
  d.setAutoPadding(false)
  return Buffer.concat([d.update(keyspaceId), d.final()]).readBigUInt64BE()
}
