// `shardform local status`: each recorded process — alive and ours, answering, read_only, replication health.
import {resolve} from 'node:path'
import {etcdHealthy} from './etcd.js'
import {instancePaths, withRoot} from './mariadb.js'
import {isOurMariadbd, pidFromFile} from './processes.js'
import {pidMatches} from './proc.js'
import {replicationHealth, type ReplicationHealth} from './replication.js'
import {DEFAULT_LOCAL_DIR, readState} from './state.js'
import type {TabletPlace} from './tablets.js'

export interface TabletStatus extends Omit<TabletPlace, 'database'> {
  pid: number
  /** running: our process answers; stopped: no process; unresponsive: alive but not answering. */
  state: 'running' | 'stopped' | 'unresponsive'
  readOnly?: boolean
  gtidCurrentPos?: string
  replication?: ReplicationHealth
  /** For replica/rdonly: the primary it should replicate from. */
  primary?: {alias: string; port: number}
  errorLog: string
}

export interface ClusterStatus {
  dir: string
  etcd?: {clientPort: number; pid: number; state: 'running' | 'stopped' | 'unresponsive'; log: string}
  tablets: TabletStatus[]
}

/** Each recorded process: alive, answering, role, read_only, replication health. */
export async function clusterStatus(dirArg: string): Promise<ClusterStatus> {
  const dir = resolve(dirArg || DEFAULT_LOCAL_DIR)
  const state = readState(dir)
  const tablets = await Promise.all(
    Object.values(state.tablets).map(async (t): Promise<TabletStatus> => {
      const p = instancePaths(t.dir)
      const pid = isOurMariadbd(t.pid, p) ? t.pid : (pidFromFile(p) ?? 0)
      const base: TabletStatus = {
        alias: t.alias,
        keyspace: t.keyspace,
        shard: t.shard,
        type: t.type,
        port: t.port,
        pid,
        state: 'stopped',
        errorLog: t.errorLog,
        ...(t.primary ? {primary: t.primary} : {}),
      }
      if (!pid) return base
      try {
        return await withRoot(p.socket, async (c) => {
          const [rows] = await c.query('SELECT @@global.read_only AS ro, @@global.gtid_current_pos AS pos')
          const r = (rows as Array<{ro: number | string; pos: string}>)[0]
          const replication = await replicationHealth(c)
          return {
            ...base,
            state: 'running',
            readOnly: Number(r.ro) === 1,
            gtidCurrentPos: r.pos,
            ...(replication ? {replication} : {}),
          }
        })
      } catch {
        return {...base, state: 'unresponsive'}
      }
    }),
  )
  tablets.sort((a, b) => a.keyspace.localeCompare(b.keyspace) || a.alias.localeCompare(b.alias))
  let etcd: ClusterStatus['etcd']
  if (state.etcd) {
    const e = state.etcd
    const alive = !!e.pid && pidMatches(e.pid, 'etcd', [e.dataDir])
    etcd = {
      clientPort: e.clientPort,
      pid: alive ? e.pid : 0,
      log: e.log,
      state: !alive ? 'stopped' : (await etcdHealthy(e.clientPort)) ? 'running' : 'unresponsive',
    }
  }
  return {dir, etcd, tablets}
}
