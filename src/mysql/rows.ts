// Reading rows in primary-key order with bounded buffering, and comparing rows and keys the way MySQL orders them.
import type {Readable} from 'node:stream'
import type {Connection} from 'mysql2/promise'
import type {RowValue} from './codec.js'
import {qid} from './connect.js'
import {
  isBinaryColumn,
  isIntegerColumn,
  isNumericColumn,
  selectList,
  type ColumnInfo,
  type TableInfo,
} from './tables.js'

/**
 * A pull cursor over a streaming SELECT (rows as arrays). Rows arrive into `incoming`; when the consumer has used
 * up the current batch, the next one is taken over at once, through `keep` (a batch filter: keyspace ids are
 * computed many at a time).
 */
export class RowCursor {
  private buf: RowValue[][] = []
  private pos = 0
  private incoming: RowValue[][] = []
  private ended = false
  private error?: Error
  private waiter?: () => void
  private readonly stream: Readable
  /** Rows taken over at once (fewer with a small read-ahead: rows held long enough to outlive a scavenge cost). */
  private readonly batch: number

  constructor(
    conn: Connection,
    sql: string,
    params: unknown[] = [],
    private readonly keep?: (rows: RowValue[][]) => boolean[],
    private readonly high = 5000,
  ) {
    this.batch = Math.max(1, Math.min(512, high >> 1))
    this.stream = (
      conn as unknown as {connection: {query(o: object, p: unknown[]): {stream(o: object): Readable}}}
    ).connection
      .query({sql, rowsAsArray: true}, params)
      .stream({highWaterMark: Math.min(1000, high)})
    this.stream.on('data', (row: RowValue[]) => {
      this.incoming.push(row)
      if (this.incoming.length >= this.high) this.stream.pause()
      if (this.incoming.length >= this.batch) this.wake()
    })
    this.stream.on('end', () => {
      this.ended = true
      this.wake()
    })
    this.stream.on('error', (err) => {
      this.error = err
      this.ended = true
      this.wake()
    })
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }

  private takeIncoming(): void {
    const rows = this.incoming
    this.incoming = []
    if (this.keep && rows.length) {
      const k = this.keep(rows)
      this.buf = rows.filter((_, i) => k[i])
    } else this.buf = rows
    this.pos = 0
    this.stream.resume()
  }

  /** peek() can answer without ready() (which costs a promise per row): a row is buffered, or the stream ended. */
  get buffered(): boolean {
    return this.pos < this.buf.length || (this.ended && this.incoming.length === 0 && !this.error)
  }

  /** Resolves when a row is available or the stream has ended. */
  async ready(): Promise<void> {
    while (this.pos >= this.buf.length) {
      if (this.incoming.length >= this.batch || (this.ended && this.incoming.length)) {
        this.takeIncoming()
        continue
      }
      if (this.ended) break
      this.stream.resume()
      await new Promise<void>((r) => (this.waiter = r))
    }
    if (this.error && this.pos >= this.buf.length) throw this.error
  }

  peek(): RowValue[] | undefined {
    return this.buf[this.pos]
  }

  shift(): RowValue[] | undefined {
    const r = this.buf[this.pos]
    if (r) this.pos++
    return r
  }

  close(): void {
    this.stream.destroy()
  }
}

/** ORDER BY that matches keyCompare: text keys byte-wise (their collation order cannot be reproduced here). */
export function orderBy(t: TableInfo): string {
  return t.primaryKey
    .map((k) => {
      const c = t.columns.find((x) => x.name === k)!
      return textKey(c) ? `CAST(${qid(k)} AS BINARY)` : qid(k)
    })
    .join(', ')
}

function textKey(c: ColumnInfo): boolean {
  return c.charset !== null && c.charset !== 'binary' && !isBinaryColumn(c)
}

/** SELECT of all copy columns in key order (binary-charset session), optionally with extra trailing expressions. */
export function orderedSelect(database: string, t: TableInfo, extra: string[] = []): string {
  return `SELECT ${[selectList(t), ...extra].join(', ')} FROM ${qid(database)}.${qid(t.name)} ORDER BY ${orderBy(t)}`
}

/** Compare two primary keys (values as read by a binary-charset session) in the order `orderBy` produces. */
export function keyComparator(t: TableInfo, keyIndexes: number[]): (a: RowValue[], b: RowValue[]) => number {
  const cols = t.primaryKey.map((k) => t.columns.find((c) => c.name === k)!)
  const cmps = cols.map(valueComparator)
  return (a, b) => {
    for (let i = 0; i < keyIndexes.length; i++) {
      const c = cmps[i](a[keyIndexes[i]], b[keyIndexes[i]])
      if (c !== 0) return c
    }
    return 0
  }
}

function valueComparator(c: ColumnInfo): (a: RowValue, b: RowValue) => number {
  if (isIntegerColumn(c)) return (a, b) => compareInteger(String(a), String(b))
  if (isNumericColumn(c)) return (a, b) => compareDecimal(String(a), String(b))
  return (a, b) => {
    const x = Buffer.isBuffer(a) ? a : Buffer.from(String(a))
    const y = Buffer.isBuffer(b) ? b : Buffer.from(String(b))
    return Buffer.compare(x, y)
  }
}

/** Exact comparison of integers written in decimal ("-12", "18446744073709551615"), without BigInts. */
export function compareInteger(a: string, b: string): number {
  if (a === b) return 0
  const na = a.charCodeAt(0) === 45
  const nb = b.charCodeAt(0) === 45
  let x = na ? a.slice(1) : a
  let y = nb ? b.slice(1) : b
  // ZEROFILL columns come padded: a magnitude is compared without its leading zeros.
  if (x.length > 1 && x.charCodeAt(0) === 48) x = x.replace(/^0+(?=\d)/, '')
  if (y.length > 1 && y.charCodeAt(0) === 48) y = y.replace(/^0+(?=\d)/, '')
  if (x === '0' && y === '0') return 0
  if (na !== nb) return na ? -1 : 1
  // Same sign: the longer magnitude is larger, else the digits decide.
  const c = x === y ? 0 : x.length !== y.length ? (x.length < y.length ? -1 : 1) : x < y ? -1 : 1
  return na ? -c : c
}

/** Exact comparison of decimal strings ("-12.50", "3"); floats fall back to numbers. */
export function compareDecimal(a: string, b: string): number {
  if (/e/i.test(a) || /e/i.test(b)) return Math.sign(Number(a) - Number(b))
  const neg = (s: string) => s.startsWith('-')
  if (neg(a) !== neg(b)) return neg(a) ? -1 : 1
  const sign = neg(a) ? -1 : 1
  const [ai, af = ''] = a.replace('-', '').split('.')
  const [bi, bf = ''] = b.replace('-', '').split('.')
  const ia = ai.replace(/^0+(?=\d)/, '')
  const ib = bi.replace(/^0+(?=\d)/, '')
  if (ia.length !== ib.length) return sign * (ia.length < ib.length ? -1 : 1)
  if (ia !== ib) return sign * (ia < ib ? -1 : 1)
  const n = Math.max(af.length, bf.length)
  const fa = af.padEnd(n, '0')
  const fb = bf.padEnd(n, '0')
  return fa === fb ? 0 : sign * (fa < fb ? -1 : 1)
}

export function rowsEqual(a: RowValue[], b: RowValue[], n: number): boolean {
  for (let i = 0; i < n; i++) {
    const x = a[i]
    const y = b[i]
    if (x === y) continue
    if (Buffer.isBuffer(x) && Buffer.isBuffer(y)) {
      if (!x.equals(y)) return false
      continue
    }
    if (x === null || y === null || x === undefined || y === undefined) return false
    if (String(x) !== String(y)) return false
  }
  return true
}

export function formatKey(t: TableInfo, row: RowValue[], keyIndexes: number[]): string {
  return `(${keyIndexes.map((i, j) => `${t.primaryKey[j]}=${show(row[i])}`).join(', ')})`
}

function show(v: RowValue): string {
  if (v === null || v === undefined) return 'NULL'
  if (Buffer.isBuffer(v))
    return /^[\x20-\x7e]*$/.test(v.toString('latin1')) ? JSON.stringify(v.toString('latin1')) : `0x${v.toString('hex')}`
  return String(v)
}
