import {describe, expect, it} from 'vitest'
import {LoadDataEncoder} from '../../src/mysql/codec.js'
import {COPY_CHUNK_BYTES, copyChunkBytes} from '../../src/mysql/copy.js'
import {RowTranscoder} from '../../src/mysql/row-transcoder.js'
import {textValueReader} from '../../src/mysql/text-values.js'

const b = (s: string) => Buffer.from(s, 'latin1')
// MySQL protocol column types and the binary character set.
const field = (columnType: number, characterSet = 63, extendedFormat?: string) => ({
  columnType,
  characterSet,
  extendedFormat,
})

describe('typing raw text values as the lossless connection options do', () => {
  it('integers, BIGINT, DECIMAL, floats, dates, JSON, binary and NULL', () => {
    expect(textValueReader(field(3))(b('-42'))).toBe(-42)
    expect(textValueReader(field(1))(b('0005'))).toBe(5)
    expect(textValueReader(field(5))(b('1.5e-7'))).toBe(1.5e-7)
    expect(textValueReader(field(246))(b('-12.50'))).toBe('-12.50')
    expect(textValueReader(field(12))(b('2020-01-02 03:04:05.123456'))).toBe('2020-01-02 03:04:05.123456')
    expect(textValueReader(field(252, 63, 'json'))(Buffer.from('{"é": 1}'))).toBe('{"é": 1}')
    const raw = Buffer.from([0, 255, 9])
    expect(textValueReader(field(253))(raw)).toBe(raw)
    expect(textValueReader(field(253, 45))(Buffer.from('é'))).toBe('é')
    expect(textValueReader(field(8))(null)).toBe(null)
    expect(textValueReader(field(3))(null)).toBe(null)
  })

  it('BIGINT: a number only when it writes exactly the same text, else the text', () => {
    const big = textValueReader(field(8))
    expect(big(b('123456789012345'))).toBe(123456789012345)
    expect(big(b('-7'))).toBe(-7)
    expect(big(b('0'))).toBe(0)
    for (const s of ['1234567890123456', '18446744073709551615', '-9223372036854775808', '007', '-0', '00', '-'])
      expect(big(b(s))).toBe(s)
    for (const s of ['123456789012345', '-7', '0']) expect(String(big(b(s)))).toBe(s)
  })
})

describe('LOAD DATA encoding of raw values', () => {
  it('short and long values, escaped or not, written as given', () => {
    const e = new LoadDataEncoder(8)
    const long = 'x'.repeat(40)
    e.add([b('12'), b(`${long}\t${long}`), b(long), null, b('a\\b\n')])
    e.add([b(''), 7, 'text', b('x'), b('hidden')], 4)
    expect(e.take().toString('latin1')).toBe(`12\t${long}\\t${long}\t${long}\t\\N\ta\\\\b\\n\n\t7\ttext\tx\n`)
  })

  it('swap hands over the buffer itself and goes on in the next one, leaving what it handed over alone', () => {
    const e = new LoadDataEncoder(64, 64)
    e.add([b('1')])
    const next = Buffer.alloc(64)
    const out = e.swap(next)
    expect(out.toString()).toBe('1\n')
    expect(e.size).toBe(0)
    e.add([b('2')])
    expect(next.subarray(0, 2).toString()).toBe('2\n')
    expect(out.toString()).toBe('1\n')
    expect(e.swap(Buffer.alloc(64)).buffer).toBe(next.buffer)
  })
})

describe('row packets to LOAD DATA lines', () => {
  // A text-protocol row: each value length-coded (1, 3, 4 or 9 bytes of length), NULL as 0xfb.
  const value = (v: string | null, form: 'short' | 'fc' | 'fd' | 'fe' = 'short') => {
    if (v === null) return Buffer.from([0xfb])
    const data = Buffer.from(v, 'latin1')
    const n = data.length
    const len =
      form === 'short'
        ? Buffer.from([n])
        : form === 'fc'
          ? Buffer.from([0xfc, n & 0xff, n >> 8])
          : form === 'fd'
            ? Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16])
            : Buffer.concat([Buffer.from([0xfe]), Buffer.from([n, 0, 0, 0, 0, 0, 0, 0])])
    return Buffer.concat([len, data])
  }
  const packet = (parts: Buffer[]) => {
    const head = Buffer.from('junk')
    const buffer = Buffer.concat([head, ...parts, Buffer.from('tail')])
    return {buffer, offset: head.length, end: buffer.length - 4}
  }
  // id BIGINT, k INT, v VARBINARY; one extra column read for the router only (as a utf8mb4 CAST would be).
  const fields = [field(8), field(3), field(253), field(253)]

  it('writes the copied columns escaped, types the routed ones and the last primary key', () => {
    const tx = new RowTranscoder(3, [1, 3], [0])
    tx.setFields(fields.map(textValueReader))
    tx.add(packet([value('12'), value('-5', 'fc'), value('a\tb\\', 'fd'), value('x', 'fe')]))
    tx.add(packet([value('18446744073709551615'), value(null), value(null), value('y')]))
    expect(tx.count).toBe(2)
    const lines = tx.lines.bytesSoFar
    expect(lines.subarray(tx.lineStart(0), tx.lineEnd(0)).toString('latin1')).toBe('12\t-5\ta\\tb\\\\\n')
    expect(lines.subarray(tx.lineStart(1), tx.lineEnd(1)).toString('latin1')).toBe('18446744073709551615\t\\N\t\\N\n')
    const routed = tx.routed()
    expect(routed.map((r) => [r[1], r[3]])).toEqual([
      [-5, Buffer.from('x')],
      [null, Buffer.from('y')],
    ])
    expect(tx.lastPk()).toEqual(['18446744073709551615'])
    tx.clear()
    expect(tx.count).toBe(0)
    expect(tx.lines.size).toBe(0)
  })

  it('refuses a packet that ends inside a value', () => {
    const tx = new RowTranscoder(1, [], [0])
    tx.setFields([field(253)].map(textValueReader))
    const p = packet([value('abcdef')])
    expect(() => tx.add({...p, end: p.offset + 3})).toThrow(/ends before its values do/)
  })
})

describe('the copy chunk size for n destinations', () => {
  it('stays at COPY_CHUNK_BYTES up to two destinations, then shares twice that, at least 512 KB', () => {
    expect(copyChunkBytes(1)).toBe(COPY_CHUNK_BYTES)
    expect(copyChunkBytes(2)).toBe(COPY_CHUNK_BYTES)
    expect(copyChunkBytes(4)).toBe(COPY_CHUNK_BYTES / 2)
    expect(copyChunkBytes(8)).toBe(512 << 10)
    expect(copyChunkBytes(64)).toBe(512 << 10)
  })
})
