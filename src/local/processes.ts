// The processes of the local cluster: find a tablet's mariadbd running (ours, by PID and command line), start one
// and wait until it answers, start etcd when nothing answers on its port, and stop exactly what state.json records.
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {rm, rmdir} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {ShardformError} from '../errors.js'
import {processAlive} from '../util/process.js'
import {etcdHealthy, startLocalEtcd} from './etcd.js'
import {answers, instancePaths, spawnMariadbd, waitReady, type InstancePaths, type MariaDBBinaries} from './mariadb.js'
import {anyFreePort, pidMatches, portFree, stopPid} from './proc.js'
import {
  DEFAULT_LOCAL_DIR,
  readState,
  stateFile,
  withDirLock,
  writeState,
  type InstanceState,
  type LocalState,
} from './state.js'
import type {ClusterTablet} from './tablets.js'
import {tlsServerConfig, type LocalTls} from './tls.js'

export type ProcessAction = 'started' | 'restarted' | 'running'

export interface EtcdProcess {
  clientPort: number
  pid?: number
  /** started/restarted now, running (ours, from before), external (someone else's etcd answers there). */
  action: ProcessAction | 'external'
}

export interface StopOptions {
  /** Also remove data directories, logs, the template and state.json. */
  purge?: boolean
  /** How long each process may take to shut down before SIGKILL (default 30 s). */
  graceMs?: number
  /** SIGKILL at once (tests; data directories may need crash recovery on the next start). */
  kill?: boolean
}

export interface StopReport {
  dir: string
  stopped: Array<{name: string; pid: number; how: 'stopped' | 'killed' | 'gone' | 'not ours'}>
  purged: boolean
}

export function isOurMariadbd(pid: number | undefined, p: InstancePaths): boolean {
  return !!pid && pidMatches(pid, 'mariadbd', [`--defaults-file=${p.cnf}`])
}

/** The PID in the instance's pid file, when it is a mariadbd started from this instance's my.cnf. */
export function pidFromFile(p: InstancePaths): number | undefined {
  try {
    const pid = Number(readFileSync(p.pidFile, 'utf8').trim())
    return isOurMariadbd(pid, p) ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * The PID of the tablet's mariadbd when it runs already and answers (given time when it is still starting), or
 * undefined when it must be started (its port checked free). `dirArg` is the folder as the user gave it, for hints.
 */
export async function runningInstance(
  t: ClusterTablet,
  p: InstancePaths,
  prev: InstanceState | undefined,
  timeoutMs: number,
  dirArg: string,
): Promise<number | undefined> {
  let pid = prev && isOurMariadbd(prev.pid, p) ? prev.pid : pidFromFile(p)
  if (pid && prev && prev.port !== t.port) {
    throw new ShardformError(
      `tablet ${t.alias} runs on port ${prev.port} (pid ${pid}) but is now declared on port ${t.port}; stop it first with: shardform local down --dir ${dirArg}`,
    )
  }
  if (pid && !(await answers(p.socket))) {
    // Running but not answering yet (just started, or busy recovering): give it time.
    await waitReady(t.alias, pid, p, timeoutMs).catch(() => {
      pid = undefined
    })
    if (!pid)
      throw new ShardformError(
        `tablet ${t.alias}: mariadbd runs but does not answer on ${p.socket}; see ${p.errorLog}, or run: shardform local down --dir ${dirArg}`,
      )
  }
  if (pid) return pid
  if (!(await portFree(t.port))) {
    throw new ShardformError(
      `port ${t.port} of tablet ${t.alias} is already in use by another program on 127.0.0.1; stop that program or give the tablet another port in its layout`,
    )
  }
  return undefined
}

/** Start the tablet's mariadbd on its data directory; `spawned` hears its PID before it is waited for. */
export async function startInstance(
  bins: MariaDBBinaries,
  t: ClusterTablet,
  p: InstancePaths,
  cfg: {bufferPool: string; redoLog?: string; timeoutMs: number; tls?: LocalTls},
  spawned: (pid: number) => Promise<void>,
): Promise<number> {
  const {pid, exited} = await spawnMariadbd(
    bins,
    {
      alias: t.alias,
      role: t.type,
      port: t.port,
      serverId: t.port,
      bufferPool: cfg.bufferPool,
      redoLog: cfg.redoLog,
      ...(cfg.tls ? {extraConfig: tlsServerConfig(cfg.tls)} : {}),
    },
    p,
  )
  await spawned(pid)
  await waitReady(t.alias, pid, p, cfg.timeoutMs, exited)
  return pid
}

/** etcd on 127.0.0.1:port: ours running, someone else's answering, or started now (data in <dir>/etcd). */
export async function ensureEtcd(
  dir: string,
  port: number,
  state: LocalState,
  save: () => Promise<void>,
): Promise<EtcdProcess> {
  const etcdDir = join(dir, 'etcd')
  const ours = state.etcd && pidMatches(state.etcd.pid, 'etcd', [join(etcdDir, 'data')]) ? state.etcd : undefined
  if (await etcdHealthy(port)) {
    return ours && ours.clientPort === port
      ? {clientPort: port, pid: ours.pid, action: 'running'}
      : {clientPort: port, action: 'external'}
  }
  if (ours) {
    // Ours, alive, not healthy yet: wait a little before calling it broken.
    for (let i = 0; i < 100 && !(await etcdHealthy(port)); i++) await sleep(100)
    if (await etcdHealthy(port)) return {clientPort: port, pid: ours.pid, action: 'running'}
    throw new ShardformError(`etcd (pid ${ours.pid}) runs but does not answer on 127.0.0.1:${port}; see ${ours.log}`)
  }
  if (!(await portFree(port))) {
    throw new ShardformError(
      `port ${port} of the etcd topology is in use by a program that is not a healthy etcd; stop it or choose another port in the topology URL`,
    )
  }
  let peerPort = state.etcd?.peerPort ?? port + 1
  if (peerPort === port || !(await portFree(peerPort))) peerPort = await anyFreePort()
  const restarted = existsSync(join(etcdDir, 'data'))
  const e = await startLocalEtcd(etcdDir, port, peerPort)
  state.etcd = {...e, startedAt: new Date().toISOString()}
  await save()
  return {clientPort: port, pid: e.pid, action: restarted ? 'restarted' : 'started'}
}

/** Stop exactly the processes recorded in <dir>/state.json (each checked by its command line first). */
export async function stopCluster(dirArg: string, opts: StopOptions = {}): Promise<StopReport> {
  const dir = resolve(dirArg || DEFAULT_LOCAL_DIR)
  if (!existsSync(stateFile(dir))) {
    if (opts.purge && existsSync(dir)) await purgeDir(dir, undefined)
    return {dir, stopped: [], purged: !!opts.purge}
  }
  const report = await withDirLock(dir, '`shardform local down`', async () => {
    const state = readState(dir)
    const stopped: StopReport['stopped'] = []
    const grace = opts.kill ? 0 : (opts.graceMs ?? 30_000)
    await Promise.all(
      Object.values(state.tablets).map(async (t) => {
        const p = instancePaths(t.dir)
        const pid = isOurMariadbd(t.pid, p) ? t.pid : pidFromFile(p)
        if (!pid) {
          stopped.push({name: t.alias, pid: t.pid, how: t.pid && processAlive(t.pid) ? 'not ours' : 'gone'})
        } else {
          stopped.push({name: t.alias, pid, how: await stopPid(pid, grace)})
        }
        t.pid = 0
      }),
    )
    if (state.etcd) {
      const e = state.etcd
      if (e.pid && pidMatches(e.pid, 'etcd', [e.dataDir]))
        stopped.push({name: 'etcd', pid: e.pid, how: await stopPid(e.pid, opts.kill ? 0 : 10_000)})
      else stopped.push({name: 'etcd', pid: e.pid, how: e.pid && processAlive(e.pid) ? 'not ours' : 'gone'})
      e.pid = 0
    }
    if (opts.purge) await purgeDir(dir, state)
    else await writeState(state)
    stopped.sort((a, b) => a.name.localeCompare(b.name))
    return {dir, stopped, purged: !!opts.purge}
  })
  // The folder's lock file was in it until now.
  if (opts.purge) await rmdir(dir).catch(() => undefined)
  return report
}

/** Remove what `local up` made in `dir` (instance folders, etcd, template, state), then `dir` itself if empty. */
async function purgeDir(dir: string, state: LocalState | undefined): Promise<void> {
  const ours = new Set<string>(['etcd', 'template', 'state.json'])
  for (const t of Object.values(state?.tablets ?? {})) {
    ours.add(t.alias)
    const p = instancePaths(t.dir)
    if (!p.socket.startsWith(p.dir)) await rm(p.socket, {force: true})
  }
  for (const name of readdirSync(dir)) {
    if (ours.has(name) || /^template\.tmp-/.test(name) || /^state\.json\..*\.tmp$/.test(name))
      await rm(join(dir, name), {recursive: true, force: true})
  }
  await rmdir(dir).catch(() => undefined)
}
