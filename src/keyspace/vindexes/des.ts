// DES encryption of one 64-bit block under the all-zero key — all Vitess's `hash` vindex needs (its 3DES with a zero
// key is DES with a zero key, every round key zero). Table driven, in 32-bit integers: several times faster than a
// call into OpenSSL per block. Checked against OpenSSL in the tests.

// FIPS 46-3 tables, 1-based bit numbers counted from the most significant bit.
const IP = [
  58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24,
  16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31,
  23, 15, 7,
]
const FP = [
  40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21,
  61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27, 34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49,
  17, 57, 25,
]
const P = [
  16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
]
const S = [
  [
    14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8, 4, 1,
    14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
  ],
  [
    15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5, 0, 14,
    7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
  ],
  [
    10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1, 13, 6,
    4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
  ],
  [
    7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9, 10, 6,
    9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
  ],
  [
    2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6, 4, 2, 1,
    11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
  ],
  [
    12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8, 9, 14,
    15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
  ],
  [
    4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6, 1, 4,
    11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
  ],
  [
    13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2, 7, 11,
    4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
  ],
]

/** P⁻¹: where P puts bit k (0-based from the top) of the 32-bit word before it. */
const P_AT = new Int8Array(32)
for (let j = 0; j < 32; j++) P_AT[P[j] - 1] = j

// The tables are built when the module loads, in every CLI process, before V8 optimises anything: a few thousand
// steps each (bit by bit, each entry from a smaller one), not the hundreds of thousands a straight loop would take.

/** SP[i][b]: S-box i applied to the 6 bits b, its 4 output bits put in place and permuted by P. */
const SP: Uint32Array[] = S.map((box, i) => {
  const t = new Uint32Array(64)
  for (let b = 0; b < 64; b++) {
    // The outer bits of the 6 choose the row, the inner four the column.
    const v = box[(((b & 0x20) >> 4) | (b & 1)) * 16 + ((b >> 1) & 0xf)]
    // S-box i's output bits are bits 4i+1 … 4i+4 (1-based from the top) of the 32-bit word before P.
    let out = 0
    for (let k = 0; k < 4; k++) if (v & (8 >> k)) out |= 1 << (31 - P_AT[4 * i + k])
    t[b] = out >>> 0
  }
  return t
})

/** A 64-bit permutation as 8 lookups per half-word pair: byte k of the input → its bits' places in the output. */
function permutationTables(table: number[]): {hi: Uint32Array; lo: Uint32Array} {
  const at = new Int8Array(64)
  for (let out = 0; out < 64; out++) at[table[out] - 1] = out
  const hi = new Uint32Array(8 * 256)
  const lo = new Uint32Array(8 * 256)
  for (let byte = 0; byte < 8; byte++) {
    for (let v = 1; v < 256; v++) {
      // v's lowest set bit, added to the entry of v without it.
      const low = v & -v
      const out = at[byte * 8 + 7 - Math.log2(low)]
      const i = byte * 256 + v
      hi[i] = (hi[i - low] | (out < 32 ? 1 << (31 - out) : 0)) >>> 0
      lo[i] = (lo[i - low] | (out >= 32 ? 1 << (63 - out) : 0)) >>> 0
    }
  }
  return {hi, lo}
}

const IPT = permutationTables(IP)
const FPT = permutationTables(FP)

function permute(t: {hi: Uint32Array; lo: Uint32Array}, a: number, b: number, out: Uint32Array): void {
  let h = 0
  let l = 0
  for (let k = 0; k < 4; k++) {
    const x = (a >>> (24 - 8 * k)) & 0xff
    const y = (b >>> (24 - 8 * k)) & 0xff
    h |= t.hi[k * 256 + x] | t.hi[(k + 4) * 256 + y]
    l |= t.lo[k * 256 + x] | t.lo[(k + 4) * 256 + y]
  }
  out[0] = h >>> 0
  out[1] = l >>> 0
}

const [S0, S1, S2, S3, S4, S5, S6, S7] = SP
const pair = new Uint32Array(2)

/** DES(zero key) of the block (hi, lo); the result is written to `out` at `off` (8 bytes, big-endian). */
export function desZeroKey(hi: number, lo: number, out: Buffer, off: number): void {
  permute(IPT, hi, lo, pair)
  let l = pair[0]
  let r = pair[1]
  for (let round = 0; round < 16; round++) {
    // E(r) in eight 6-bit pieces: piece i is bits 4i-1 … 4i+4 (0-based from the top, wrapping) of r, i.e. the top
    // six bits of r rotated left by 4i-1.
    const f =
      S0[((r << 31) | (r >>> 1)) >>> 26] |
      S1[((r << 3) | (r >>> 29)) >>> 26] |
      S2[((r << 7) | (r >>> 25)) >>> 26] |
      S3[((r << 11) | (r >>> 21)) >>> 26] |
      S4[((r << 15) | (r >>> 17)) >>> 26] |
      S5[((r << 19) | (r >>> 13)) >>> 26] |
      S6[((r << 23) | (r >>> 9)) >>> 26] |
      S7[((r << 27) | (r >>> 5)) >>> 26]
    const next = (l ^ f) >>> 0
    l = r
    r = next
  }
  permute(FPT, r, l, pair)
  out.writeUInt32BE(pair[0], off)
  out.writeUInt32BE(pair[1], off + 4)
}
