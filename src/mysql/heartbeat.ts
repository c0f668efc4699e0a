// Replication heartbeat (as Vitess does): a row on a source primary, rewritten every few hundred ms with the writer's
// clock. Its row events travel through the binlog with the data, so a stream that applied one knows how far behind
// it is, in milliseconds, even when the application writes nothing.
import type {Connection} from 'mysql2/promise'
import type {TabletRecord} from '../topo/records.js'
import {connectTablet} from './connect.js'

export const HEARTBEAT_DB = '_shardform'
export const HEARTBEAT_TABLE = 'heartbeat'
export const HEARTBEAT_INTERVAL_MS = 250

/** A heartbeat row as the binlog carries it: which source shard, which writer (process), its clock in µs. */
export interface Heartbeat {
  shard: string
  writer: string
  tsUs: number
}

const CREATE = [
  `CREATE DATABASE IF NOT EXISTS ${HEARTBEAT_DB}`,
  `CREATE TABLE IF NOT EXISTS ${HEARTBEAT_DB}.${HEARTBEAT_TABLE} (
    shard VARCHAR(64) NOT NULL,
    writer VARCHAR(255) NOT NULL,
    ts_us BIGINT NOT NULL,
    PRIMARY KEY (shard, writer)
  ) ENGINE=InnoDB`,
]

/** Microseconds since the epoch on this process's clock. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000)
}

/** A heartbeat row from a binlog row image (undefined when it is not one). */
export function heartbeatOf(row: Record<string, unknown> | undefined): Heartbeat | undefined {
  if (!row) return undefined
  const s = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))
  const ts = Number(row.ts_us)
  if (row.shard === undefined || row.writer === undefined || !Number.isFinite(ts)) return undefined
  return {shard: s(row.shard), writer: s(row.writer), tsUs: ts}
}

/**
 * Writes the heartbeat of one source shard on its primary until stopped. Never on a read-only primary: a frozen
 * source (the cutover) or a retired one must get no new transactions, so every statement is conditional on it.
 */
export class HeartbeatWriter {
  private conn?: Connection
  private timer?: NodeJS.Timeout
  private ready = false
  private busy = false
  private stopped = false

  constructor(
    private readonly tablet: TabletRecord,
    private readonly shard: string,
    private readonly writer: string,
    private readonly intervalMs = HEARTBEAT_INTERVAL_MS,
  ) {}

  start(): void {
    void this.beat()
    this.timer = setInterval(() => void this.beat(), this.intervalMs)
    this.timer.unref()
  }

  private async beat(): Promise<void> {
    if (this.busy || this.stopped) return
    this.busy = true
    try {
      this.conn ??= await connectTablet(this.tablet, 'admin')
      if (this.stopped) return void (await this.conn.end().catch(() => undefined))
      if (!this.ready) this.ready = await this.prepare(this.conn)
      if (this.ready)
        await this.conn.query(
          `INSERT INTO ${HEARTBEAT_DB}.${HEARTBEAT_TABLE} (shard, writer, ts_us) SELECT ?, ?, ? FROM DUAL WHERE @@global.read_only = 0 ON DUPLICATE KEY UPDATE ts_us = VALUES(ts_us)`,
          [this.shard, this.writer, nowUs()],
        )
    } catch {
      // The source may be restarting or unreachable: the stream's lag grows meanwhile, which is the truth.
      await this.conn?.end().catch(() => undefined)
      this.conn = undefined
    } finally {
      this.busy = false
    }
  }

  /** Create the table if it is missing and the primary is writable (CREATE … IF NOT EXISTS is binlogged anyway). */
  private async prepare(c: Connection): Promise<boolean> {
    const [rows] = (await c.query(
      `SELECT @@global.read_only AS ro, (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?) AS n`,
      [HEARTBEAT_DB, HEARTBEAT_TABLE],
    )) as unknown as [Array<{ro: unknown; n: unknown}>]
    if (Number(rows[0]?.n) > 0) return true
    if (Number(rows[0]?.ro) !== 0) return false
    for (const sql of CREATE) await c.query(sql)
    return true
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    const c = this.conn
    this.conn = undefined
    if (!c) return
    await c
      .query(
        `DELETE FROM ${HEARTBEAT_DB}.${HEARTBEAT_TABLE} WHERE shard = ? AND writer = ? AND @@global.read_only = 0`,
        [this.shard, this.writer],
      )
      .catch(() => undefined)
    await c.end().catch(() => undefined)
  }
}
