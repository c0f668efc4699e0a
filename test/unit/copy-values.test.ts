import {describe, expect, it} from 'vitest'
import {LoadDataEncoder} from '../../src/mysql/codec.js'
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
