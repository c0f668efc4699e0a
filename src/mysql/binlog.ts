// A source primary's binlog as a sequence of transactions, from a GTID position (wraps @vlasky/zongji).
// Only row changes of one database are kept; every transaction boundary is still reported so positions advance.
import type {TabletRecord} from '../topo/records.js'
import {tabletOptions} from './connect.js'
import {HEARTBEAT_DB, HEARTBEAT_TABLE, heartbeatOf, type Heartbeat} from './heartbeat.js'

export type RowImage = Record<string, unknown>

export interface RowChange {
  kind: 'insert' | 'update' | 'delete'
  table: string
  before?: RowImage
  after?: RowImage
}

export interface BinlogTransaction {
  gtid: string
  /** Commit time on the source, ms since epoch. */
  timestamp: number
  changes: RowChange[]
  /** Set when the transaction is DDL on the watched database: the statement. */
  ddl?: string
  /** The default database the DDL ran in on the source (its unqualified names refer to it). */
  ddlSchema?: string
  /** Heartbeat rows written in this transaction (never row changes of the watched database). */
  heartbeats?: Heartbeat[]
}

export interface BinlogReaderOptions {
  tablet: TabletRecord
  database: string
  /** Resume after this position ('' = everything the server still has). */
  fromGtid: string
  /** Replication server id for this reader; unique per concurrent reader on one source. */
  serverId: number
  onTransaction(tx: BinlogTransaction): void
  onError(err: Error): void
}

interface ZongJiLike {
  on(ev: string, fn: (arg: never) => void): void
  start(opts: object): void
  stop(): void
  connection?: {pause(): void; resume(): void}
}

interface ZEvent {
  getEventName(): string
  gtid?: string
  timestamp: number
  query?: string
  schema?: string
  tableId?: number
  tableMap?: Record<number, {parentSchema: string; tableName: string}>
  rows?: Array<RowImage | {before: RowImage; after: RowImage}>
}

const NOT_DDL = /^\s*(BEGIN|COMMIT|ROLLBACK|XA |SAVEPOINT|RELEASE SAVEPOINT)\b/i

export class BinlogReader {
  private z?: ZongJiLike
  private tx?: BinlogTransaction
  private paused = false
  private stopped = false

  private constructor(private readonly o: BinlogReaderOptions) {}

  static async start(o: BinlogReaderOptions): Promise<BinlogReader> {
    const r = new BinlogReader(o)
    await r.open()
    return r
  }

  private async open(): Promise<void> {
    const {default: ZongJi} = (await import('@vlasky/zongji')) as unknown as {default: new (opts: object) => ZongJiLike}
    const opts = tabletOptions(this.o.tablet, 'admin', {charset: 'UTF8MB4_BIN'})
    const z = new ZongJi({...opts, timezone: 'Z'})
    this.z = z
    const db = this.o.database
    await new Promise<void>((resolve, reject) => {
      let ready = false
      z.on('ready', () => {
        ready = true
        resolve()
      })
      z.on('error', (err: Error) => {
        if (this.stopped) return
        // The code stays: a caller tells a lost connection (the source down) from other failures by it.
        const e = Object.assign(new Error(describeBinlogError(this.o.tablet.alias, err)), {
          code: (err as Error & {code?: string}).code,
        })
        if (!ready) reject(e)
        else this.o.onError(e)
      })
      z.on('binlog', (ev: ZEvent) => this.event(ev, db))
      z.start({
        gtidSet: this.o.fromGtid,
        serverId: this.o.serverId,
        includeEvents: ['mariadbgtid', 'tablemap', 'writerows', 'updaterows', 'deleterows', 'xid', 'query'],
        // Row events of other databases are skipped before zongji looks their columns up in information_schema:
        // shardform's user may have no privilege there (zongji then stops with "Insufficient permissions"), and a
        // table dropped since would stop it the same way. Query events (DDL) still arrive for every database.
        // The heartbeat table too: its rows measure lag (they are never applied anywhere).
        includeSchema: {[db]: true, ...(db === HEARTBEAT_DB ? {} : {[HEARTBEAT_DB]: [HEARTBEAT_TABLE]})},
      })
    })
  }

  private event(ev: ZEvent, db: string): void {
    const name = ev.getEventName()
    if (name === 'mariadbgtid') {
      this.tx = {gtid: ev.gtid ?? '', timestamp: ev.timestamp, changes: []}
      return
    }
    const tx = this.tx
    if (!tx) return
    if (name === 'writerows' || name === 'updaterows' || name === 'deleterows') {
      const map = ev.tableMap?.[ev.tableId ?? -1]
      if (map?.parentSchema === HEARTBEAT_DB && map.tableName === HEARTBEAT_TABLE) {
        if (name === 'deleterows') return
        for (const r of ev.rows ?? []) {
          const hb = heartbeatOf(name === 'writerows' ? (r as RowImage) : (r as {after: RowImage}).after)
          if (hb) (tx.heartbeats ??= []).push(hb)
        }
        return
      }
      if (!map || map.parentSchema !== db) return
      for (const r of ev.rows ?? []) {
        if (name === 'writerows') tx.changes.push({kind: 'insert', table: map.tableName, after: r as RowImage})
        else if (name === 'deleterows') tx.changes.push({kind: 'delete', table: map.tableName, before: r as RowImage})
        else {
          const u = r as {before: RowImage; after: RowImage}
          tx.changes.push({kind: 'update', table: map.tableName, before: u.before, after: u.after})
        }
      }
      return
    }
    if (name === 'xid') return this.commit()
    if (name === 'query') {
      const q = ev.query ?? ''
      if (/^\s*COMMIT\b/i.test(q)) return this.commit()
      if (NOT_DDL.test(q)) return
      // A statement outside a transaction: DDL. It matters only when it touches the watched database.
      if (ddlConcerns(q, ev.schema ?? '', db)) {
        tx.ddl = q
        tx.ddlSchema = ev.schema ?? ''
      }
      return this.commit()
    }
  }

  private commit(): void {
    const tx = this.tx
    this.tx = undefined
    if (tx) this.o.onTransaction(tx)
  }

  /** Backpressure: stop reading from the socket until resume(). */
  pause(): void {
    if (!this.paused) {
      this.paused = true
      this.z?.connection?.pause()
    }
  }

  resume(): void {
    if (this.paused) {
      this.paused = false
      this.z?.connection?.resume()
    }
  }

  stop(): void {
    this.stopped = true
    try {
      this.z?.stop()
    } catch {
      // zongji can throw from stop() after a connection error; the reader is gone either way
    }
  }
}

// The first object a DDL statement names, when it is qualified with a database: `CREATE TABLE other.t`, `DROP VIEW
// IF EXISTS other.v`, `CREATE INDEX i ON other.t`.
const QUALIFIED_TARGET =
  /^\s*(?:CREATE|ALTER|DROP|TRUNCATE|RENAME)\b[\s\S]*?\b(?:TABLES?|VIEW|INDEX\s+\S+\s+ON|TRIGGER|PROCEDURE|FUNCTION|EVENT|SEQUENCE)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(`(?:[^`]|``)+`|[A-Za-z0-9_$]+)\s*\.\s*(?:`|[A-Za-z0-9_$])/i

/**
 * Does a DDL statement change the watched database? It does when it names it, or when it ran there (its default
 * database) unless it names another database for what it changes (`USE db; DROP TABLE other.t` does not).
 */
export function ddlConcerns(sql: string, schema: string, db: string): boolean {
  if (mentions(sql, db)) return true
  if (schema !== db) return false
  if (/^\s*(?:CREATE|ALTER|DROP)\s+(?:DATABASE|SCHEMA)\b/i.test(sql)) return false
  const m = QUALIFIED_TARGET.exec(sql)
  return !m || m[1].replace(/^`|`$/g, '').replace(/``/g, '`') === db
}

function mentions(sql: string, db: string): boolean {
  const esc = db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return (
    new RegExp(`(^|[^A-Za-z0-9_$])\`?${esc}\`?\\s*\\.`, 'i').test(sql) ||
    new RegExp(`(DATABASE|SCHEMA)\\s+(IF\\s+(NOT\\s+)?EXISTS\\s+)?\`?${esc}(\`|(?![A-Za-z0-9_$]))`, 'i').test(sql)
  )
}

function describeBinlogError(alias: string, err: Error & {code?: string; errno?: number}): string {
  const msg = err.message || String(err)
  if (err.errno === 1236 || /1236|purged|Could not find first log/i.test(msg)) {
    return `tablet ${alias}: the source no longer has the binary log filtered replication must read from (${msg}). The destinations cannot catch up without a gap, so replication stops here. They must be copied again: cancel this reshard by applying the layout it started from (shardform apply <previous layout>), then apply the new layout again; the clone starts from a fresh snapshot. Keep binary logs longer than a reshard takes (expire_logs_days / binlog_expire_logs_seconds).`
  }
  return `tablet ${alias}: binlog stream: ${msg}`
}
