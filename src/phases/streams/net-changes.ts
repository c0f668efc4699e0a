// A batch of row changes applied in one destination transaction needs only its net effect per row: the last image of
// each primary key, or its absence. Applied that way, a batch is one DELETE by a key list, one multi-row INSERT of new
// rows and one INSERT … ON DUPLICATE KEY UPDATE of changed rows per table, in primary key order (neighbouring rows
// share index pages), instead of one statement per source statement.
import type {RowImage} from '../../mysql/binlog.js'
import {sqlLiteral} from '../../mysql/codec.js'
import {copyColumns, type ColumnInfo, type TableInfo} from '../../mysql/tables.js'
import type {ApplyOp} from './apply-sql.js'

interface KeyState {
  /** Did the row exist before the batch? (Its first change there was an update or a delete, not an insert.) */
  existed: boolean
  /** Its image after the batch; undefined: it no longer exists. */
  row?: RowImage
  /** An image holding the key (to delete the row by). */
  keyRow: RowImage
}

const reorderable = new WeakMap<TableInfo, boolean>()

/**
 * May a table's changes within one transaction be applied in another order than the source's? When the primary key
 * is its only unique key (rows of different keys never conflict), and every key column has no character set: two
 * values the server takes for the same key (case, trailing spaces, accents in a collation) never look different here.
 * Foreign keys are not enforced by the apply session (foreign_key_checks = 0) and tables with triggers are refused.
 */
export function canNet(t: TableInfo): boolean {
  let ok = reorderable.get(t)
  if (ok === undefined) {
    const cols = t.primaryKey.map((k) => t.columns.find((c) => c.name === k))
    ok = cols.length > 0 && cols.every((c) => c !== undefined && c.charset === null) && !/\bUNIQUE\b/i.test(t.create)
    reorderable.set(t, ok)
  }
  return ok
}

function keyOf(pk: ColumnInfo[], row: RowImage): string {
  let k = ''
  for (const c of pk) {
    if (!(c.name in row)) return ''
    k += sqlLiteral(row[c.name] as never, c) + ','
  }
  return k
}

/** A full image: every stored column present (binlog_row_image FULL), so it can replace the row. */
function complete(cols: ColumnInfo[], row: RowImage): boolean {
  for (const c of cols) if (!(c.name in row)) return false
  return true
}

/** Net changes of one table, or undefined when they cannot be netted (an image lacks the key or a column). */
function netTable(t: TableInfo, ops: ApplyOp[]): ApplyOp[] | undefined {
  const pk = t.primaryKey.map((k) => t.columns.find((c) => c.name === k)!)
  const cols = copyColumns(t)
  const keys = new Map<string, KeyState>()
  const gone = (k: string, row: RowImage) => {
    const st = keys.get(k)
    if (st) st.row = undefined
    else keys.set(k, {existed: true, keyRow: row})
  }
  const put = (k: string, row: RowImage, existed: boolean) => {
    const st = keys.get(k)
    if (st) st.row = row
    else keys.set(k, {existed, row, keyRow: row})
  }
  for (const op of ops) {
    if (op.kind === 'delete') {
      const k = keyOf(pk, op.row)
      if (!k) return undefined
      gone(k, op.row)
    } else if (op.kind === 'insert' || op.kind === 'upsert') {
      const k = keyOf(pk, op.row)
      if (!k || !complete(cols, op.row)) return undefined
      put(k, op.row, op.kind === 'upsert')
    } else {
      const kb = keyOf(pk, op.before)
      const ka = keyOf(pk, op.after)
      if (!kb || !ka || !complete(cols, op.after)) return undefined
      // An update of the key: the old key's row is gone, the new key's row is new (it did not exist on the source).
      if (kb !== ka) gone(kb, op.before)
      put(ka, op.after, kb === ka)
    }
  }
  const deletes: ApplyOp[] = []
  const inserts: ApplyOp[] = []
  const upserts: ApplyOp[] = []
  for (const st of sortByKey(pk, [...keys.values()])) {
    if (!st.row) {
      if (st.existed) deletes.push({kind: 'delete', table: t, row: st.keyRow})
    } else if (st.existed) upserts.push({kind: 'upsert', table: t, row: st.row})
    else inserts.push({kind: 'insert', table: t, row: st.row})
  }
  return [...deletes, ...inserts, ...upserts]
}

/**
 * The ops of one destination transaction with the same end state and fewer, larger statements: per table that
 * `canNet`, deletes of rows that existed before, inserts of new rows, and upserts (full after images) of changed
 * ones, each in key order; other tables keep their ops in source order. Tables are independent of each other.
 */
export function netChanges(ops: ApplyOp[]): ApplyOp[] {
  const byTable = new Map<TableInfo, ApplyOp[]>()
  for (const op of ops) {
    const list = byTable.get(op.table)
    if (list) list.push(op)
    else byTable.set(op.table, [op])
  }
  const out: ApplyOp[] = []
  for (const [t, list] of byTable) {
    const net = canNet(t) ? netTable(t, list) : undefined
    for (const op of net ?? list) out.push(op)
  }
  return out
}

/** Primary key order as the server sorts these types (for locality only: any order gives the same result). */
function sortByKey(pk: ColumnInfo[], states: KeyState[]): KeyState[] {
  const keyed = states.map((st) => ({st, k: pk.map((c) => sortValue(st.keyRow[c.name]))}))
  keyed.sort((a, b) => {
    for (let i = 0; i < pk.length; i++) {
      const c = compareValues(a.k[i], b.k[i])
      if (c !== 0) return c
    }
    return 0
  })
  return keyed.map((x) => x.st)
}

type SortValue = number | bigint | string | Buffer | null

function sortValue(v: unknown): SortValue {
  if (v === null || v === undefined) return null
  if (typeof v === 'number' || typeof v === 'bigint' || Buffer.isBuffer(v)) return v
  const s = String(v)
  return /^-?\d{1,30}$/.test(s) ? BigInt(s) : s
}

function compareValues(a: SortValue, b: SortValue): number {
  if (a === b) return 0
  if (a === null) return -1
  if (b === null) return 1
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) {
    return Buffer.isBuffer(a) && Buffer.isBuffer(b) ? Buffer.compare(a, b) : Buffer.isBuffer(a) ? 1 : -1
  }
  if (typeof a === 'string' || typeof b === 'string') {
    const x = String(a)
    const y = String(b)
    return x < y ? -1 : x > y ? 1 : 0
  }
  return a < b ? -1 : a > b ? 1 : 0
}
