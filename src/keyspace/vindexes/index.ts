import {binaryMd5Vindex, binaryVindex} from './binary.js'
import {hashVindex, hashVindexFlat, hashVindexMany} from './hash.js'
import {numericVindex, reverseBitsVindex} from './numeric.js'
import {VindexError, type VindexValue} from './value.js'
import {xxhashVindex} from './xxhash.js'

export {VindexError, type VindexValue} from './value.js'
export {unhash} from './hash.js'
export {xxh64} from './xxhash.js'

/** A functional, unique vindex: one value → one keyspace id. */
export type VindexFn = (value: VindexValue) => Buffer

const VINDEXES: Record<string, VindexFn> = {
  hash: hashVindex,
  numeric: numericVindex,
  reverse_bits: reverseBitsVindex,
  xxhash: xxhashVindex,
  binary_md5: binaryMd5Vindex,
  binary: binaryVindex,
}

export const VINDEX_TYPES = Object.keys(VINDEXES)

export function isVindexType(type: string): boolean {
  return Object.hasOwn(VINDEXES, type)
}

export function getVindex(type: string): VindexFn {
  if (!isVindexType(type)) {
    throw new VindexError(`unknown vindex type "${type}": shardform supports ${VINDEX_TYPES.join(', ')}`)
  }
  return VINDEXES[type]
}

const MANY: Record<string, (values: VindexValue[]) => Buffer[]> = {hash: hashVindexMany}

/** Keyspace ids of many values (batched where the vindex gains from it). A bad value throws, as for one. */
export function keyspaceIds(type: string, values: VindexValue[]): Buffer[] {
  const many = MANY[type]
  if (many) return many(values)
  const fn = getVindex(type)
  return values.map((v) => fn(v))
}

/** For vindexes whose ids are always 8 bytes: many ids back to back in one buffer (no object per id), else undefined. */
export function keyspaceIdsFlat(type: string, values: VindexValue[]): Buffer | undefined {
  return type === 'hash' ? hashVindexFlat(values) : undefined
}

/** The keyspace id of one value under a vindex type. */
export function keyspaceId(type: string, value: VindexValue): Buffer {
  return getVindex(type)(value)
}
