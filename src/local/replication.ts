// Replication inside a shard of the local cluster: replicas follow their primary with GTID (MASTER_USE_GTID=slave_pos).
import {setTimeout as sleep} from 'node:timers/promises'
import type {Connection} from 'mysql2/promise'
import {withRoot} from './mariadb.js'
import {REPL_USER} from './provision.js'
import type {LocalTls} from './tls.js'

export interface ReplicationHealth {
  ioRunning: string
  sqlRunning: string
  secondsBehind: number | null
  lastError: string
  primaryPort: number | null
  gtidSlavePos: string
}

/**
 * Point a (re)started replica at its shard's primary with GTID: CHANGE MASTER … MASTER_USE_GTID=slave_pos resumes
 * from what it applied, so re-issuing it is safe, and it picks up a changed replication password. With `tls` the
 * replica connects over TLS and checks the primary's certificate against the CA (and 127.0.0.1 against its names);
 * without, TLS is turned off explicitly (a replica once set up with TLS would otherwise keep it).
 */
export async function setupReplication(
  conn: Connection,
  primaryPort: number,
  replPassword: string,
  tls?: LocalTls,
): Promise<void> {
  await conn.query('STOP SLAVE')
  const ssl = tls
    ? ', MASTER_SSL=1, MASTER_SSL_CA=?, MASTER_SSL_VERIFY_SERVER_CERT=1'
    : ', MASTER_SSL=0, MASTER_SSL_VERIFY_SERVER_CERT=0'
  await conn.query(
    `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=?, MASTER_USER=?, MASTER_PASSWORD=?, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1${ssl}`,
    [primaryPort, REPL_USER, replPassword, ...(tls ? [tls.ca] : [])],
  )
  await conn.query('START SLAVE')
}

/** SHOW SLAVE STATUS, the parts that say whether it works; undefined when the instance replicates from nobody. */
export async function replicationHealth(conn: Connection): Promise<ReplicationHealth | undefined> {
  const [rows] = await conn.query('SHOW SLAVE STATUS')
  const st = (rows as Array<Record<string, unknown>>)[0]
  if (!st) return undefined
  const behind = st.Seconds_Behind_Master
  return {
    ioRunning: String(st.Slave_IO_Running ?? ''),
    sqlRunning: String(st.Slave_SQL_Running ?? ''),
    secondsBehind: behind === null || behind === undefined ? null : Number(behind),
    lastError: String(st.Last_IO_Error || st.Last_SQL_Error || st.Last_Error || ''),
    primaryPort: st.Master_Port === undefined ? null : Number(st.Master_Port),
    gtidSlavePos: String(st.Gtid_Slave_Pos ?? ''),
  }
}

/**
 * Wait until both replication threads run on every replica (they connect within milliseconds), or `timeoutMs`
 * passes. Returns one line per replica still not running ("alias: IO …, SQL … (error)"), empty when all are.
 */
export async function waitReplicating(
  replicas: Array<{alias: string; socket: string}>,
  timeoutMs: number,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  let pending = replicas
  for (;;) {
    const health = await Promise.all(pending.map((r) => withRoot(r.socket, replicationHealth).catch(() => undefined)))
    const notRunning = pending
      .map((r, i) => ({...r, h: health[i]}))
      .filter(({h}) => !(h?.ioRunning === 'Yes' && h?.sqlRunning === 'Yes'))
    if (!notRunning.length) return []
    if (Date.now() > deadline) {
      return notRunning.map(
        ({alias, h}) =>
          `${alias}: IO ${h?.ioRunning ?? '?'}, SQL ${h?.sqlRunning ?? '?'}${h?.lastError ? ` (${h.lastError})` : ''}`,
      )
    }
    pending = notRunning
    await sleep(50)
  }
}
