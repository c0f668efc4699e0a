import {toUint64, uint64Bytes, type VindexValue} from './value.js'

/** Vitess `numeric`: the value itself as 8 bytes big-endian. */
export function numericVindex(value: VindexValue): Buffer {
  return uint64Bytes(toUint64(value, 'numeric'))
}

/** Vitess `reverse_bits`: the uint64 with its 64 bits reversed, big-endian. */
export function reverseBitsVindex(value: VindexValue): Buffer {
  let n = toUint64(value, 'reverse_bits')
  let r = 0n
  for (let i = 0; i < 64; i++) {
    r = (r << 1n) | (n & 1n)
    n >>= 1n
  }
  return uint64Bytes(r)
}
