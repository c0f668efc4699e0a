// Binlog row changes → SQL for a destination, batched: consecutive inserts into one table become one multi-row
// INSERT (upserts one INSERT … ON DUPLICATE KEY UPDATE), consecutive deletes one DELETE by a list of primary keys;
// updates address the row by its primary key (before image).
import {sqlLiteral} from '../../mysql/codec.js'
import {qid} from '../../mysql/connect.js'
import {copyColumns, type ColumnInfo, type TableInfo} from '../../mysql/tables.js'
import type {RowImage} from '../../mysql/binlog.js'

export type ApplyOp =
  | {kind: 'insert'; table: TableInfo; row: RowImage}
  | {kind: 'delete'; table: TableInfo; row: RowImage}
  | {kind: 'update'; table: TableInfo; before: RowImage; after: RowImage}
  /** The row's full image after the change, whether or not the row exists (see net-changes.ts). */
  | {kind: 'upsert'; table: TableInfo; row: RowImage}

const MAX_STATEMENT = 1 << 20

function values(cols: ColumnInfo[], row: RowImage): string {
  return `(${cols.map((c) => sqlLiteral(row[c.name] as never, c)).join(',')})`
}

function pkColumns(t: TableInfo): ColumnInfo[] {
  return t.primaryKey.map((k) => t.columns.find((c) => c.name === k)!)
}

function pkMatch(t: TableInfo, row: RowImage): string {
  return pkColumns(t)
    .map((c) => `${qid(c.name)}=${sqlLiteral(row[c.name] as never, c)}`)
    .join(' AND ')
}

/** The key as an IN list element: `v` or `(v1,v2)` (a row constructor IN list is a range scan of the key). */
function pkTuple(t: TableInfo, row: RowImage): string {
  const pk = pkColumns(t)
  const vals = pk.map((c) => sqlLiteral(row[c.name] as never, c)).join(',')
  return pk.length === 1 ? vals : `(${vals})`
}

function pkList(t: TableInfo): string {
  const names = t.primaryKey.map(qid).join(',')
  return t.primaryKey.length === 1 ? names : `(${names})`
}

/** ON DUPLICATE KEY UPDATE of every stored column outside the key (the key itself when there is none). */
function upsertClause(t: TableInfo): string {
  const rest = copyColumns(t).filter((c) => !t.primaryKey.includes(c.name))
  const set = rest.length ? rest.map((c) => c.name) : t.primaryKey.slice(0, 1)
  return ` ON DUPLICATE KEY UPDATE ${set.map((n) => `${qid(n)}=VALUES(${qid(n)})`).join(',')}`
}

function checkRow(t: TableInfo, row: RowImage): void {
  for (const k of t.primaryKey) {
    if (!(k in row))
      throw new Error(`binlog row of ${t.name} lacks primary key column ${k} (is binlog_row_image FULL on the source?)`)
  }
}

/** SQL statements (without the transaction around them) for a sequence of ops, in order. */
export function applyStatements(database: string, ops: ApplyOp[]): string[] {
  const out: string[] = []
  let i = 0
  while (i < ops.length) {
    const op = ops[i]
    const t = op.table
    const target = `${qid(database)}.${qid(t.name)}`
    if (op.kind === 'update') {
      checkRow(t, op.before)
      const cols = copyColumns(t)
      out.push(
        `UPDATE ${target} SET ${cols.map((c) => `${qid(c.name)}=${sqlLiteral(op.after[c.name] as never, c)}`).join(',')} WHERE ${pkMatch(t, op.before)}`,
      )
      i++
      continue
    }
    // Runs of the same kind on the same table.
    let j = i
    let size = 0
    const parts: string[] = []
    while (j < ops.length && ops[j].kind === op.kind && ops[j].table === t && size < MAX_STATEMENT) {
      const row = (ops[j] as {row: RowImage}).row
      checkRow(t, row)
      const part = op.kind === 'delete' ? pkTuple(t, row) : values(copyColumns(t), row)
      parts.push(part)
      size += part.length
      j++
    }
    // One key alone by equality: MariaDB scans the whole table for a DELETE whose row constructor IN list has a
    // single element (10.11: type ALL), while two or more are a range of the key.
    if (op.kind === 'delete' && parts.length === 1)
      out.push(`DELETE FROM ${target} WHERE ${pkMatch(t, (op as {row: RowImage}).row)}`)
    else if (op.kind === 'delete') out.push(`DELETE FROM ${target} WHERE ${pkList(t)} IN (${parts.join(',')})`)
    else
      out.push(
        `INSERT INTO ${target} (${copyColumns(t)
          .map((c) => qid(c.name))
          .join(',')}) VALUES ${parts.join(',')}${op.kind === 'upsert' ? upsertClause(t) : ''}`,
      )
    i = j
  }
  return out
}

/** Bytes of SQL per round trip: far below a server's max_allowed_packet (16 MB by default), however large a batch. */
export const MAX_QUERY = 4 << 20

/**
 * One destination transaction as round trips: START TRANSACTION, `stmts` in order, COMMIT, joined into queries of up
 * to about `maxBytes` (a small batch is one query). A transaction left open by a failure is rolled back by the
 * caller, or by the server when the session ends.
 */
export function transactionQueries(stmts: string[], maxBytes = MAX_QUERY): string[] {
  const out: string[] = []
  let cur = 'START TRANSACTION'
  for (const s of stmts) {
    if (cur.length + s.length + 1 > maxBytes && cur.length) {
      out.push(cur)
      cur = s
    } else cur = cur ? `${cur};${s}` : s
  }
  out.push(`${cur};COMMIT`)
  return out
}
