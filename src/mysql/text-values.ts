// A text-protocol row read raw (mysql2 `typeCast: false`: every value the server's text bytes, NULL as null) is
// what LOAD DATA takes. The few values that must be typed (primary keys to resume from, sharding columns) are
// typed here as the LOSSLESS connection options (connect.ts) would have typed them.
import type {RowValue} from './codec.js'

/** What mysql2 tells of a result column (its ColumnDefinition). */
export interface ResultField {
  columnType: number
  characterSet: number
  extendedFormat?: string
}

// MySQL protocol column types.
const TINY = 1
const SHORT = 2
const LONG = 3
const FLOAT = 4
const DOUBLE = 5
const TIMESTAMP = 7
const LONGLONG = 8
const INT24 = 9
const DATE = 10
const TIME = 11
const DATETIME = 12
const YEAR = 13
const JSON_TYPE = 245
const DECIMAL = 0
const NEWDECIMAL = 246
const BINARY_CHARSET = 63

export type TextValueReader = (raw: Buffer | null) => RowValue

/**
 * The typed value of a raw text value of this column: integers up to INT as numbers, BIGINT and DECIMAL as
 * strings (bigNumberStrings; a BIGINT of up to 15 digits as the number it writes, which every vindex and every
 * WHERE clause takes alike, and without a string per row), FLOAT/DOUBLE as numbers, dates and times as strings (dateStrings), JSON as text
 * (jsonStrings), binary-charset values as Buffers.
 */
export function textValueReader(f: ResultField): TextValueReader {
  if (f.extendedFormat === 'json' || f.columnType === JSON_TYPE) return (b) => b && b.toString('utf8')
  switch (f.columnType) {
    case TINY:
    case SHORT:
    case LONG:
    case INT24:
    case YEAR:
      return (b) => b && Number(b.toString('latin1'))
    case FLOAT:
    case DOUBLE:
      return (b) => b && parseFloat(b.toString('latin1'))
    case LONGLONG:
      return bigint
    case DECIMAL:
    case NEWDECIMAL:
    case DATE:
    case DATETIME:
    case TIMESTAMP:
    case TIME:
      return (b) => b && b.toString('latin1')
    default:
      return f.characterSet === BINARY_CHARSET ? (b) => b : (b) => b && b.toString('utf8')
  }
}

/** BIGINT text: a number when it is the canonical text of a safe integer, else the text. */
function bigint(b: Buffer | null): RowValue {
  if (b === null) return null
  const n = b.length
  const neg = b[0] === 0x2d ? 1 : 0
  // Canonical: no leading zero (other than "0" itself), not "-0", at most 15 digits.
  if (n - neg > 15 || n - neg === 0 || (b[neg] === 0x30 && (n - neg > 1 || neg))) return b.toString('latin1')
  let v = 0
  for (let i = neg; i < n; i++) {
    const d = b[i] - 0x30
    if (d < 0 || d > 9) return b.toString('latin1')
    v = v * 10 + d
  }
  return neg ? -v : v
}
