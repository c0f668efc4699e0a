import {toBytes, type VindexValue} from './value.js'

// XXH64 (seed 0), written out so that no native addon is needed. Vitess stores the sum little-endian.
const M = (1n << 64n) - 1n
const P1 = 11400714785074694791n
const P2 = 14029467366897019727n
const P3 = 1609587929392839161n
const P4 = 9650029242287828579n
const P5 = 2870177450012600261n

const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M
const round = (acc: bigint, input: bigint) => (rotl((acc + input * P2) & M, 31n) * P1) & M
const merge = (acc: bigint, val: bigint) => ((acc ^ round(0n, val)) * P1 + P4) & M

export function xxh64(data: Buffer, seed = 0n): bigint {
  const len = data.length
  let p = 0
  let h: bigint
  if (len >= 32) {
    let v1 = (seed + P1 + P2) & M
    let v2 = (seed + P2) & M
    let v3 = seed & M
    let v4 = (seed - P1) & M
    for (; p + 32 <= len; p += 32) {
      v1 = round(v1, data.readBigUInt64LE(p))
      v2 = round(v2, data.readBigUInt64LE(p + 8))
      v3 = round(v3, data.readBigUInt64LE(p + 16))
      v4 = round(v4, data.readBigUInt64LE(p + 24))
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M
    h = merge(merge(merge(merge(h, v1), v2), v3), v4)
  } else {
    h = (seed + P5) & M
  }
  h = (h + BigInt(len)) & M
  for (; p + 8 <= len; p += 8) {
    h ^= round(0n, data.readBigUInt64LE(p))
    h = (rotl(h, 27n) * P1 + P4) & M
  }
  if (p + 4 <= len) {
    h ^= (BigInt(data.readUInt32LE(p)) * P1) & M
    h = (rotl(h, 23n) * P2 + P3) & M
    p += 4
  }
  for (; p < len; p++) {
    h ^= (BigInt(data[p]) * P5) & M
    h = (rotl(h, 11n) * P1) & M
  }
  h ^= h >> 33n
  h = (h * P2) & M
  h ^= h >> 29n
  h = (h * P3) & M
  h ^= h >> 32n
  return h
}

export function xxhashVindex(value: VindexValue): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(xxh64(toBytes(value, 'xxhash')))
  return b
}
