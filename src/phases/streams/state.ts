// The stream position lives on the destination, in the same transaction as the rows it applied: exactly once.
// Its row also names the applier that owns the stream (fencing): every transaction that advances the position checks
// it, so an applier another one took over from (paused past its lease) can never commit rows again.
import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import type {Connection} from 'mysql2/promise'
import {PhaseError} from '../context.js'

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
    updated_at DATETIME(6) NOT NULL,
    owner VARCHAR(255) NOT NULL DEFAULT '',
    owned_at DATETIME(6) NULL
  ) ENGINE=InnoDB`,
  // A source DDL a stream runs on its destination (onDdl: exec): DDL commits on its own, so the statement is noted
  // here before it runs and the note goes with the position after it; a note found on restart means it may have run.
  `CREATE TABLE IF NOT EXISTS ${STATE_DB}.stream_ddl (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    gtid VARCHAR(255) NOT NULL,
    statement MEDIUMTEXT NOT NULL,
    started_at DATETIME(6) NOT NULL
  ) ENGINE=InnoDB`,
  // The run of a clone task that copies into this destination now (copy-fence.ts): every chunk it writes checks it.
  `CREATE TABLE IF NOT EXISTS ${STATE_DB}.copies (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    owner VARCHAR(255) NOT NULL,
    owned_at DATETIME(6) NOT NULL
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

/** ALTER command denied to user. */
const ER_TABLEACCESS_DENIED = 1142

/** Columns added since the first release, for `streams` tables created before them. */
const STREAM_COLUMNS_ADDED = [
  ['owner', `VARCHAR(255) NOT NULL DEFAULT ''`],
  ['owned_at', 'DATETIME(6) NULL'],
] as const

export async function ensureStateTables(conn: Connection): Promise<void> {
  for (const sql of STATE_DDL) await conn.query(sql)
  // Checked first: an ALTER that changes nothing still waits for every open transaction on the table.
  const [cols] = (await conn.query(
    `SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'streams'`,
    [STATE_DB],
  )) as unknown as [Array<{c: unknown}>]
  const have = new Set(cols.map((r) => String(r.c)))
  for (const [name, type] of STREAM_COLUMNS_ADDED) {
    if (have.has(name)) continue
    try {
      await conn.query(`ALTER TABLE ${STATE_DB}.streams ADD COLUMN IF NOT EXISTS ${name} ${type}`)
    } catch (err) {
      if ((err as {errno?: number}).errno !== ER_TABLEACCESS_DENIED) throw err
      throw new PhaseError(`${STATE_DB}.streams was created by an older shardform and lacks its ${name} column`, {
        code: 'phase.state_upgrade',
        detail: `Adding it needs ALTER on ${STATE_DB}, once (stream owners fence appliers another one took over from).`,
        hint: `GRANT ALTER ON \`\\_shardform\`.* TO <shardform's admin user>, then run the command again (the grant can be revoked after).`,
        cause: err,
      })
    }
  }
}

/** This process run's owner token for the streams it applies: host, pid and a random part (a restart differs). */
export const PROCESS_OWNER = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`

/** The error number of the SIGNAL an advance raises when the stream is owned by another applier. */
export const NOT_OWNER_ERRNO = 1644

/**
 * Claim a stream for `owner`. `take`: whoever held it (a starting applier takes over from one whose lease ran out);
 * `keep`: only if it is still ours or unowned (a restart within one run must not take it back from a newer owner).
 * False when the claim matched no row.
 */
export async function claimStream(
  conn: Connection,
  id: string,
  owner: string,
  mode: 'take' | 'keep',
): Promise<boolean> {
  const [res] = (await conn.query(
    `UPDATE ${STATE_DB}.streams SET owner = ?, owned_at = UTC_TIMESTAMP(6) WHERE id = ?${mode === 'keep' ? ` AND owner IN (?, '')` : ''}`,
    mode === 'keep' ? [owner, id, owner] : [owner, id],
  )) as unknown as [{affectedRows: number}]
  return res.affectedRows === 1
}

export interface StreamOwner {
  owner: string
  ownedAt?: string
}

export async function readOwner(conn: Connection, id: string): Promise<StreamOwner | undefined> {
  const [rows] = (await conn.query(
    `SELECT owner, DATE_FORMAT(owned_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS owned_at FROM ${STATE_DB}.streams WHERE id = ?`,
    [id],
  )) as unknown as [Array<{owner: unknown; owned_at: unknown}>]
  const r = rows[0]
  if (!r) return undefined
  const s = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))
  return {owner: s(r.owner), ...(r.owned_at === null ? {} : {ownedAt: s(r.owned_at)})}
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

/**
 * The statements that advance a stream, inside the batch's transaction and before its rows: they raise error
 * NOT_OWNER_ERRNO unless `owner` still owns the stream, so the batch is rolled back (fencing).
 */
export function advanceStatement(
  id: string,
  owner: string,
  position: string,
  transactions: number,
  rowChanges: number,
  quote: (s: string) => string,
): string {
  return `UPDATE ${STATE_DB}.streams SET position=${quote(position)}, transactions=transactions+${transactions}, row_changes=row_changes+${rowChanges}, updated_at=UTC_TIMESTAMP(6) WHERE id=${quote(id)} AND owner=${quote(owner)};IF ROW_COUNT() <> 1 THEN SIGNAL SQLSTATE '45000' SET MYSQL_ERRNO = ${NOT_OWNER_ERRNO}, MESSAGE_TEXT = 'shardform: this stream is owned by another applier'; END IF`
}

/** Locks the stream's row for the transaction and raises NOT_OWNER_ERRNO unless `owner` owns it. */
export function lockOwnedStatement(id: string, owner: string, quote: (s: string) => string): string {
  return `SET @shardform_owner = NULL;SELECT owner INTO @shardform_owner FROM ${STATE_DB}.streams WHERE id=${quote(id)} FOR UPDATE;IF NOT (@shardform_owner <=> ${quote(owner)}) THEN SIGNAL SQLSTATE '45000' SET MYSQL_ERRNO = ${NOT_OWNER_ERRNO}, MESSAGE_TEXT = 'shardform: this stream is owned by another applier'; END IF`
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
