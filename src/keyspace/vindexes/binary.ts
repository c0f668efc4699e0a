import {createHash} from 'node:crypto'
import {toBytes, type VindexValue} from './value.js'

/** Vitess `binary`: the bytes are the keyspace id. */
export function binaryVindex(value: VindexValue): Buffer {
  return Buffer.from(toBytes(value, 'binary'))
}

/** Vitess `binary_md5`: MD5 of the raw bytes. */
export function binaryMd5Vindex(value: VindexValue): Buffer {
  return createHash('md5').update(toBytes(value, 'binary_md5')).digest()
}
