import {createCipheriv, createDecipheriv} from 'node:crypto'
import {toUint64, uint64Bytes, VindexError, type VindexValue} from './value.js'

// Vitess `hash`: 3DES with an all-zero key equals single DES with a zero key; ECB on one block, no padding.
const ZERO_KEY = Buffer.alloc(24)

export function hashVindex(value: VindexValue): Buffer {
  const c = createCipheriv('des-ede3', ZERO_KEY, null)
  c.setAutoPadding(false)
  return Buffer.concat([c.update(uint64Bytes(toUint64(value, 'hash'))), c.final()])
}

/** The `hash` vindex is reversible: keyspace id → the uint64 it came from. */
export function unhash(keyspaceId: Buffer): bigint {
  if (keyspaceId.length !== 8) throw new VindexError(`keyspace id ${keyspaceId.toString('hex')} is not 8 bytes: not a hash vindex output`)
  const d = createDecipheriv('des-ede3', ZERO_KEY, null)
  d.setAutoPadding(false)
  return Buffer.concat([d.update(keyspaceId), d.final()]).readBigUInt64BE()
}
