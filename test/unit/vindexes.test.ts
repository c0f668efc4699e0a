import {describe, expect, it} from 'vitest'
import {getVindex, keyspaceId, unhash, VINDEX_TYPES} from '../../src/keyspace/vindexes/index.js'

const hex = (type: string, v: Parameters<typeof keyspaceId>[1]) => keyspaceId(type, v).toString('hex')

describe('hash (Vitess test vectors)', () => {
  it.each([
    [1, '166b40b44aba4bd6'],
    [2, '06e7ea22ce92708f'],
    [3, '4eb190c9a2fa169c'],
    [4, 'd2fd8867d50d2dfe'],
    [5, '70bb023c810ca87a'],
    [6, 'f098480ac4c4be71'],
  ])('%i → %s', (v, expected) => {
    expect(hex('hash', v)).toBe(expected)
    expect(hex('hash', String(v))).toBe(expected)
    expect(hex('hash', BigInt(v))).toBe(expected)
  })

  it('is reversible', () => {
    for (const v of [0n, 1n, 12345678901234567890n, (1n << 64n) - 1n]) {
      expect(unhash(keyspaceId('hash', v))).toBe(v)
    }
  })

  it("reads negatives as two's complement uint64", () => {
    expect(hex('hash', -1)).toBe(hex('hash', '18446744073709551615'))
    expect(hex('hash', '-9223372036854775808')).toBe(hex('hash', 9223372036854775808n))
  })
})

describe('numeric and reverse_bits', () => {
  it('numeric is the big-endian value', () => {
    expect(hex('numeric', 1)).toBe('0000000000000001')
    expect(hex('numeric', '18446744073709551615')).toBe('ffffffffffffffff')
    expect(hex('numeric', -1)).toBe('ffffffffffffffff')
  })
  it('reverse_bits', () => {
    expect(hex('reverse_bits', 1)).toBe('8000000000000000')
    expect(hex('reverse_bits', 2)).toBe('4000000000000000')
    expect(hex('reverse_bits', '9223372036854775808')).toBe('0000000000000001')
  })
})

describe('byte vindexes', () => {
  it('xxhash (Vitess vector, little-endian sum)', () => {
    expect(hex('xxhash', 'test1')).toBe('d01ab7e4d6978f0b')
    // Integers hash as their decimal text, as Vitess's Value.ToBytes gives.
    expect(hex('xxhash', 1)).toBe(hex('xxhash', '1'))
    // Longer than one 32-byte stripe.
    expect(keyspaceId('xxhash', 'The quick brown fox jumps over the lazy dog').readBigUInt64LE().toString(16)).toBe(
      'b242d361fda71bc',
    )
  })
  it('binary_md5', () => {
    expect(hex('binary_md5', 'Test')).toBe('0cbc6611f5540bd0809a388dc95a615b')
  })
  it('binary keeps the bytes, 0x00 and 0xff included', () => {
    expect(hex('binary', Buffer.from([0, 0xff, 0x10]))).toBe('00ff10')
    expect(hex('binary', 'abc')).toBe('616263')
  })
})

describe('bad values', () => {
  it.each(VINDEX_TYPES)('%s refuses NULL with a message that says so', (type) => {
    expect(() => keyspaceId(type, null)).toThrow(/NULL has no keyspace id/)
    expect(() => keyspaceId(type, undefined)).toThrow(/NULL/)
  })
  it.each(['hash', 'numeric', 'reverse_bits'])('%s refuses non-integers and out-of-range values', (type) => {
    expect(() => keyspaceId(type, 'abc')).toThrow(/is not an integer/)
    expect(() => keyspaceId(type, 1.5)).toThrow(/not an exact integer/)
    expect(() => keyspaceId(type, '18446744073709551616')).toThrow(/out of range/)
    expect(() => keyspaceId(type, '-9223372036854775809')).toThrow(/out of range/)
  })
  it('unknown types are named', () => {
    expect(() => getVindex('lookup_unique')).toThrow(/unknown vindex type "lookup_unique"/)
  })
})

describe('hash: the table-driven DES agrees with OpenSSL', () => {
  it('on 20000 random and edge values, one at a time and in batches', async () => {
    const {createCipheriv, randomBytes} = await import('node:crypto')
    const {keyspaceIds} = await import('../../src/keyspace/vindexes/index.js')
    const c = createCipheriv('des-ede3', Buffer.alloc(24), null)
    c.setAutoPadding(false)
    const values: bigint[] = [0n, 1n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n, 0x0123456789abcdefn]
    for (let i = 0; i < 20000; i++) values.push(randomBytes(8).readBigUInt64BE())
    const input = Buffer.alloc(values.length * 8)
    values.forEach((v, i) => input.writeBigUInt64BE(v, i * 8))
    const expected = c.update(input)
    const batch = keyspaceIds('hash', values)
    values.forEach((v, i) => {
      const want = expected.subarray(i * 8, i * 8 + 8).toString('hex')
      expect(keyspaceId('hash', v).toString('hex')).toBe(want)
      expect(batch[i].toString('hex')).toBe(want)
    })
  })
})
