// Row values to bytes: LOAD DATA text for the copy, SQL literals for filtered replication.
import type {ColumnInfo} from './tables.js'
import {isBinaryColumn, isNumericColumn} from './tables.js'

export type RowValue = string | number | bigint | Buffer | null | undefined

// LOAD DATA … CHARACTER SET binary FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'
export const LOAD_DATA_FORMAT =
  "CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"

const BACKSLASH = 0x5c
const NULL_FIELD = Buffer.from('\\N')
/** Bytes LOAD DATA needs escaped: NUL, tab, newline, backslash. */
const SPECIAL = new Uint8Array(256)
SPECIAL[0x00] = SPECIAL[0x09] = SPECIAL[0x0a] = SPECIAL[BACKSLASH] = 1

/**
 * Appends rows in LOAD DATA text form to a growing buffer. Values come from a binary-charset connection, so text
 * is raw bytes in the column's own charset and nothing is converted on either side.
 */
export class LoadDataEncoder {
  private buf: Buffer
  private len = 0
  rows = 0

  /** `max`: the buffer doubles up to this size (more only for a row that does not fit). */
  constructor(
    initial = 1 << 20,
    private readonly max = Infinity,
  ) {
    this.buf = Buffer.allocUnsafe(initial)
  }

  get size(): number {
    return this.len
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(Math.min(this.buf.length * 2, this.max), this.len + n))
    this.buf.copy(next, 0, 0, this.len)
    this.buf = next
  }

  /** One row: its first `n` values (all by default). */
  add(row: RowValue[], n = row.length): void {
    for (let i = 0; i < n; i++) {
      if (i > 0) {
        this.ensure(1)
        this.buf[this.len++] = 0x09
      }
      const v = row[i]
      if (v instanceof Uint8Array) this.bytes(v)
      else this.field(v)
    }
    this.ensure(1)
    this.buf[this.len++] = 0x0a
    this.rows++
  }

  private field(v: RowValue): void {
    if (v === null || v === undefined) {
      this.ensure(2)
      NULL_FIELD.copy(this.buf, this.len)
      this.len += 2
      return
    }
    if (typeof v === 'number' || typeof v === 'bigint') v = String(v)
    if (typeof v === 'string') return this.text(v)
    this.bytes(v)
  }

  /** Text: ASCII (numbers as mysql2 gives BIGINT and DECIMAL, dates) written char by char; anything else as UTF-8. */
  private text(s: string): void {
    this.ensure(s.length * 2)
    const out = this.buf
    let len = this.len
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) return this.bytes(Buffer.from(s, 'utf8'))
      if (SPECIAL[c] !== 0) {
        out[len++] = BACKSLASH
        out[len++] = c === 0x09 ? 0x74 : c === 0x0a ? 0x6e : c === 0x00 ? 0x30 : BACKSLASH
      } else out[len++] = c
    }
    this.len = len
  }

  private bytes(b: Uint8Array): void {
    this.escaped(b, 0, b.length)
  }

  /** Bytes `start`..`end` of `b` as one field's value, escaped (no separator). */
  escaped(b: Uint8Array, start: number, end: number): void {
    this.ensure((end - start) * 2)
    const out = this.buf
    let len = this.len
    let i = start
    if (end - start > 32) {
      // Most values hold no byte that needs escaping: find out, then copy them whole (TypedArray set is a memcpy).
      while (i < end && SPECIAL[b[i]] === 0) i++
      if (i === end) {
        out.set(b.subarray(start, end), len)
        this.len = len + end - start
        return
      }
      out.set(b.subarray(start, i), len)
      len += i - start
    }
    // Short values (numbers, dates) and the rest of an escaped one: by hand, cheaper than a call per value.
    for (; i < end; i++) {
      const x = b[i]
      if (SPECIAL[x] !== 0) {
        out[len++] = BACKSLASH
        out[len++] = x === 0x09 ? 0x74 : x === 0x0a ? 0x6e : x === 0x00 ? 0x30 : BACKSLASH
      } else out[len++] = x
    }
    this.len = len
  }

  /** One byte as is (a field or line separator). */
  byte(x: number): void {
    this.ensure(1)
    this.buf[this.len++] = x
  }

  /** A NULL field. */
  nullField(): void {
    this.ensure(2)
    this.buf[this.len++] = BACKSLASH
    this.buf[this.len++] = 0x4e
  }

  /** Bytes already in LOAD DATA form (whole lines of another encoder), copied as they are. */
  append(b: Uint8Array, start: number, end: number, rows = 1): void {
    this.ensure(end - start)
    this.buf.set(b.subarray(start, end), this.len)
    this.len += end - start
    this.rows += rows
  }

  /** The bytes so far (a view, valid until the next write). */
  get bytesSoFar(): Buffer {
    return this.buf.subarray(0, this.len)
  }

  /** Start again in the same buffer. */
  clear(): void {
    this.len = 0
    this.rows = 0
  }

  /** Hand over a copy of the bytes so far and start again. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.len))
    this.len = 0
    this.rows = 0
    return out
  }

  /**
   * Hand over the bytes so far without copying (a view of the current buffer, which the caller now owns) and go on
   * in `next`: a copy recycles its chunk buffers instead of allocating one per chunk.
   */
  swap(next: Buffer): Buffer {
    const out = this.buf.subarray(0, this.len)
    this.buf = next
    this.len = 0
    this.rows = 0
    return out
  }
}

/** A SQL literal for a value of `col`, as zongji decodes binlog rows (strings decoded, binary as Buffer). */
export function sqlLiteral(v: RowValue, col: ColumnInfo): string {
  if (v === null || v === undefined) return 'NULL'
  if (Buffer.isBuffer(v)) return `X'${v.toString('hex')}'`
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`column ${col.name}: cannot write ${v}`)
    // Exact integers and decimals stay unquoted: a quoted BIGINT compares as DOUBLE in a WHERE clause.
    return String(v)
  }
  if (isNumericColumn(col) && /^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$/i.test(v)) return v
  if (isBinaryColumn(col)) return `X'${Buffer.from(v, 'utf8').toString('hex')}'`
  return quoteString(v)
}

/** 'text' with MySQL escapes; utf8mb4 connection. */
export function quoteString(s: string): string {
  return "'" + s.replace(/[\0\n\r\b\t\x1a'"\\]/g, escapeChar) + "'"
}

function escapeChar(c: string): string {
  switch (c) {
    case '\0':
      return '\\0'
    case '\n':
      return '\\n'
    case '\r':
      return '\\r'
    case '\b':
      return '\\b'
    case '\t':
      return '\\t'
    case '\x1a':
      return '\\Z'
    default:
      return '\\' + c
  }
}
