// Consistent snapshots of a source shard, each with the exact GTID position it corresponds to.
//  - rdonly: stop its replication; @@gtid_slave_pos is exactly what it has applied. The data is frozen, so any
//    number of plain connections read the same snapshot. Replication restarts on release.
//  - primary: one transaction WITH CONSISTENT SNAPSHOT; binlog_snapshot_file/position → BINLOG_GTID_POS.
import type {Connection} from 'mysql2/promise'
import type {TabletRecord} from '../topo/records.js'
import {connectTablet, tabletError} from './connect.js'
import {dataSession} from './session.js'

export interface Snapshot {
  kind: 'rdonly' | 'primary'
  tablet: TabletRecord
  gtid: string
  /** A connection that reads the snapshot (binary charset); close() when done. A primary snapshot has only one. */
  reader(): Promise<SnapshotReader>
  /** Readers that may run in parallel (rdonly: several; primary: 1). */
  readonly maxReaders: number
  release(): Promise<void>
}

export interface SnapshotReader {
  conn: Connection
  close(): Promise<void>
}

type Row = Record<string, unknown>
const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : v === null || v === undefined ? '' : String(v))

async function slaveStatus(conn: Connection): Promise<Row | undefined> {
  const [rows] = (await conn.query('SHOW SLAVE STATUS')) as unknown as [Row[]]
  return rows[0]
}

/** Stop replication on an rdonly tablet and return its exact applied position. */
export async function stopReplica(t: TabletRecord): Promise<string> {
  const admin = await connectTablet(t, 'admin')
  try {
    if (!(await slaveStatus(admin)))
      throw tabletError(t, new Error('is not replicating from anything; cannot take a snapshot on it'))
    await admin.query('STOP SLAVE')
    const st = await slaveStatus(admin)
    if (text(st?.Slave_SQL_Running) === 'Yes') throw tabletError(t, new Error('replication SQL thread did not stop'))
    const [[row]] = (await admin.query('SELECT @@gtid_slave_pos AS p')) as unknown as [Row[]]
    return text(row.p)
  } finally {
    await admin.end()
  }
}

export async function startReplica(t: TabletRecord): Promise<void> {
  const admin = await connectTablet(t, 'admin')
  try {
    await admin.query('START SLAVE')
  } finally {
    await admin.end()
  }
}

/** The position of a stopped replica, or undefined when its replication runs (its snapshot is gone). */
export async function frozenPosition(t: TabletRecord): Promise<string | undefined> {
  const admin = await connectTablet(t, 'admin')
  try {
    const st = await slaveStatus(admin)
    if (!st || text(st.Slave_SQL_Running) === 'Yes') return undefined
    const [[row]] = (await admin.query('SELECT @@gtid_slave_pos AS p')) as unknown as [Row[]]
    return text(row.p)
  } finally {
    await admin.end()
  }
}

/** Use an rdonly tablet that is already stopped at `gtid` (resume), or stop it now. */
export async function rdonlySnapshot(t: TabletRecord, expectGtid?: string): Promise<Snapshot> {
  const current = expectGtid ? await frozenPosition(t) : undefined
  const gtid = expectGtid && current === expectGtid ? expectGtid : await stopReplica(t)
  return {
    kind: 'rdonly',
    tablet: t,
    gtid,
    maxReaders: 4,
    reader: async () => {
      const conn = await dataSession(t, 'read')
      return {conn, close: () => conn.end()}
    },
    release: () => startReplica(t),
  }
}

export async function primarySnapshot(t: TabletRecord): Promise<Snapshot> {
  const conn = await dataSession(t, 'read')
  let used = false
  try {
    await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')
    const [rows] = (await conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'")) as unknown as [Row[]]
    const get = (name: string) => text(rows.find((r) => text(r.Variable_name) === name)?.Value)
    const file = get('Binlog_snapshot_file')
    const pos = get('Binlog_snapshot_position')
    if (!file)
      throw tabletError(t, new Error('has no binary log (log_bin is off); shardform needs it for filtered replication'))
    const [[g]] = (await conn.query('SELECT BINLOG_GTID_POS(?, ?) AS g', [file, Number(pos)])) as unknown as [Row[]]
    return {
      kind: 'primary',
      tablet: t,
      gtid: text(g.g),
      maxReaders: 1,
      reader: async () => {
        if (used) throw new Error('a primary snapshot has a single reader')
        used = true
        return {conn, close: async () => undefined}
      },
      release: async () => {
        await conn.query('COMMIT').catch(() => undefined)
        await conn.end().catch(() => undefined)
      },
    }
  } catch (err) {
    await conn.end().catch(() => undefined)
    throw err
  }
}

/**
 * Wait until a running replica has applied `gtid` (MASTER_GTID_WAIT). 'stopped': its replication is not running, so
 * it never will; 'timeout': it is further behind than `timeoutSeconds`.
 */
export async function replicaReached(
  t: TabletRecord,
  gtid: string,
  timeoutSeconds: number,
): Promise<'reached' | 'stopped' | 'timeout'> {
  const admin = await connectTablet(t, 'admin')
  try {
    const st = await slaveStatus(admin)
    if (!st || text(st.Slave_SQL_Running) !== 'Yes') return 'stopped'
    const [[row]] = (await admin.query('SELECT MASTER_GTID_WAIT(?, ?) AS r', [gtid, timeoutSeconds])) as unknown as [
      Row[],
    ]
    return Number(row.r) === 0 ? 'reached' : 'timeout'
  } finally {
    await admin.end()
  }
}
