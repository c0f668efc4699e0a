// The stream position lives on the destination, in the same transaction as the rows it applied: exactly once.
import type {Connection} from 'mysql2/promise'

export const STATE_DB = '_shardform'

export const STATE_DDL = [
  `CREATE DATABASE IF NOT EXISTS ${STATE_DB}`,
  `CREATE TABLE IF NOT EXISTS ${STATE_DB}.streams (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    workflow VARCHAR(255) NOT NULL,
    source_shard VARCHAR(64) NOT NULL,
    position VARCHAR(4096) NOT NULL,
    transactions BIGINT UNSIGNED NOT NULL DEFAULT 0,
    row_changes BIGINT UNSIGNED NOT NULL DEFAULT 0,
    updated_at DATETIME(6) NOT NULL
  ) ENGINE=InnoDB`,
  // A source DDL a stream runs on its destination (onDdl: exec): DDL commits on its own, so the statement is noted
  // here before it runs and the note goes with the position after it; a note found on restart means it may have run.
  `CREATE TABLE IF NOT EXISTS ${STATE_DB}.stream_ddl (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    gtid VARCHAR(255) NOT NULL,
    statement MEDIUMTEXT NOT NULL,
    started_at DATETIME(6) NOT NULL
  ) ENGINE=InnoDB`,
  // Written on a shard's own primary when shardform retires it: its data is stale from then on.
  `CREATE TABLE IF NOT EXISTS ${STATE_DB}.retired (
    keyspace VARCHAR(255) NOT NULL,
    shard VARCHAR(64) NOT NULL,
    workflow VARCHAR(255) NOT NULL,
    retired_at DATETIME(6) NOT NULL,
    PRIMARY KEY (keyspace, shard)
  ) ENGINE=InnoDB`,
]

export async function ensureStateTables(conn: Connection): Promise<void> {
  for (const sql of STATE_DDL) await conn.query(sql)
}

export interface StreamRow {
  id: string
  workflow: string
  position: string
  transactions: number
  rowChanges: number
}

export async function readStream(conn: Connection, id: string): Promise<StreamRow | undefined> {
  const [rows] = (await conn.query(
    `SELECT id, workflow, position, transactions, row_changes FROM ${STATE_DB}.streams WHERE id = ?`,
    [id],
  )) as unknown as [Array<Record<string, unknown>>]
  const r = rows[0]
  if (!r) return undefined
  const s = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))
  return {
    id: s(r.id),
    workflow: s(r.workflow),
    position: s(r.position),
    transactions: Number(r.transactions),
    rowChanges: Number(r.row_changes),
  }
}

/** Create or reset a stream's starting position (the clone's snapshot position). */
export async function writeStreamStart(
  conn: Connection,
  id: string,
  workflow: string,
  sourceShard: string,
  position: string,
): Promise<void> {
  await conn.query(
    `REPLACE INTO ${STATE_DB}.streams (id, workflow, source_shard, position, transactions, row_changes, updated_at) VALUES (?, ?, ?, ?, 0, 0, UTC_TIMESTAMP(6))`,
    [id, workflow, sourceShard, position],
  )
}

export async function deleteStream(conn: Connection, id: string): Promise<void> {
  await conn.query(`DELETE FROM ${STATE_DB}.streams WHERE id = ?`, [id])
}

/** The statement that advances a stream, inside the batch's transaction. */
export function advanceStatement(
  id: string,
  position: string,
  transactions: number,
  rowChanges: number,
  quote: (s: string) => string,
): string {
  return `UPDATE ${STATE_DB}.streams SET position=${quote(position)}, transactions=transactions+${transactions}, row_changes=row_changes+${rowChanges}, updated_at=UTC_TIMESTAMP(6) WHERE id=${quote(id)}`
}

/** The GTID of the source DDL this stream started to run on its destination and has not yet moved past. */
export async function readDdlNote(conn: Connection, id: string): Promise<string | undefined> {
  const [rows] = (await conn.query(`SELECT gtid FROM ${STATE_DB}.stream_ddl WHERE id = ?`, [id])) as unknown as [
    Array<{gtid: unknown}>,
  ]
  const g = rows[0]?.gtid
  return g === undefined ? undefined : Buffer.isBuffer(g) ? g.toString('utf8') : String(g)
}

export async function writeDdlNote(conn: Connection, id: string, gtid: string, statement: string): Promise<void> {
  await conn.query(
    `REPLACE INTO ${STATE_DB}.stream_ddl (id, gtid, statement, started_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))`,
    [id, gtid, statement],
  )
}

/** Removes the note, inside the transaction that advances the stream past the DDL. */
export function clearDdlNoteStatement(id: string, quote: (s: string) => string): string {
  return `DELETE FROM ${STATE_DB}.stream_ddl WHERE id=${quote(id)}`
}
