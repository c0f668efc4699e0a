// The local cluster: etcd and one mariadbd per tablet on 127.0.0.1, with GTID replication inside each shard.
// It starts and stops processes only; the topology is changed by `topo init` and `apply`.
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {rm, rmdir} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Connection} from 'mysql2/promise'
import {ShardformError, errorMessage} from '../errors.js'
import type {Layout} from '../layout/types.js'
import {ensurePasswords} from '../mysql/credentials.js'
import {qid} from '../mysql/connect.js'
import type {TabletType} from '../topo/records.js'
import {etcdHealthy, localEtcdPort, startLocalEtcd} from './etcd.js'
import {
  answers,
  copyTemplate,
  ensureTemplate,
  findMariaDB,
  instancePaths,
  rootConnection,
  spawnMariadbd,
  waitReady,
  type InstancePaths,
  type MariaDBBinaries,
} from './mariadb.js'
import {anyFreePort, pidMatches, portFree, stopPid} from './proc.js'
import {processAlive} from '../util/process.js'
import {readState, stateFile, withDirLock, writeState, type InstanceState, type LocalState} from './state.js'

export const DEFAULT_LOCAL_DIR = '.shardform/local'
export const DEFAULT_APP_USER = 'app'
export const DEFAULT_ADMIN_USER = 'shardform'
export const REPL_USER = 'shardform_repl'
export const REPL_PASSWORD_ENV = 'SHARDFORM_REPL_PASSWORD'

/**
 * What the application user may do: DML and DDL on its database, nothing global. Without READ ONLY ADMIN (or
 * SUPER), `SET GLOBAL read_only=1` stops its writes — the write freeze of a cutover depends on that.
 */
export const APP_PRIVILEGES = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'DROP',
  'INDEX',
  'ALTER',
  'CREATE VIEW',
  'SHOW VIEW',
  'LOCK TABLES',
  'CREATE TEMPORARY TABLES',
] as const

export interface ClusterTablet {
  alias: string
  keyspace: string
  shard: string
  type: TabletType
  /** Only 127.0.0.1 (or localhost): the local cluster listens on loopback only. */
  host?: string
  port: number
  database: string
  /** Application user and password (defaults: options.appUser / options.appPassword). */
  user?: string
  appPassword?: string
  /** shardform's administrative user and password (defaults: options.adminUser / options.adminPassword). */
  adminUser?: string
  adminPassword?: string
}

export interface StartClusterOptions {
  /** Where instances, logs and state.json live (default .shardform/local). */
  dir: string
  tablets: ClusterTablet[]
  appUser?: string
  appPassword?: string
  adminUser?: string
  adminPassword?: string
  /** Password of the replication user shardform_repl (same on every instance). */
  replPassword: string
  /** Start an etcd on 127.0.0.1:etcdPort (data in <dir>/etcd) when nothing answers there. */
  etcdPort?: number
  /** A shared pristine data directory to copy (default <dir>/template); made on first use. */
  templateDir?: string
  /** innodb_buffer_pool_size of each instance (default 64M). */
  bufferPool?: string
  /** innodb_log_file_size of each instance (default: the template's 4M; bigger means less flushing under writes). */
  redoLog?: string
  /** How long one instance may take to answer (default 60 s). */
  startTimeoutMs?: number
  /** How long to wait for replicas to connect to their primary (default 10 s). */
  replicationTimeoutMs?: number
  onProgress?: (line: string) => void
}

export type ProcessAction = 'started' | 'restarted' | 'running'

export interface ReplicationHealth {
  ioRunning: string
  sqlRunning: string
  secondsBehind: number | null
  lastError: string
  primaryPort: number | null
  gtidSlavePos: string
}

export interface TabletProcess {
  alias: string
  keyspace: string
  shard: string
  type: TabletType
  host: '127.0.0.1'
  port: number
  database: string
  pid: number
  socket: string
  dir: string
  datadir: string
  errorLog: string
  action: ProcessAction
  /** For replica/rdonly tablets: the primary it replicates from. */
  primary?: {alias: string; port: number}
}

export interface EtcdProcess {
  clientPort: number
  pid?: number
  /** started/restarted now, running (ours, from before), external (someone else's etcd answers there). */
  action: ProcessAction | 'external'
}

export interface Cluster {
  dir: string
  tablets: TabletProcess[]
  etcd?: EtcdProcess
  /** Wall-clock time of startCluster (ms). */
  elapsedMs: number
  /** Where that time went (ms); etcd starts alongside the instances. */
  timings: ClusterTimings
  /** Stop what this cluster's folder records (see stopCluster). */
  stop(opts?: StopOptions): Promise<StopReport>
}

export interface ClusterTimings {
  etcdMs: number
  templateMs: number
  startMs: number
  setupMs: number
  replicationMs: number
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

/** One tablet per layout declaration; several layouts may list the same keyspace (old and new shards). */
export function tabletsFromLayouts(
  layouts: Layout[],
): Array<ClusterTablet & {passwordEnv?: string; adminPasswordEnv?: string}> {
  const out = new Map<string, ClusterTablet & {passwordEnv?: string; adminPasswordEnv?: string; from: string}>()
  for (const l of layouts) {
    for (const s of l.shards) {
      for (const t of s.tablets) {
        const tab = {
          alias: t.alias,
          keyspace: l.keyspace,
          shard: s.name,
          type: t.type,
          host: t.host,
          port: t.port,
          database: l.database,
          user: t.user,
          adminUser: t.adminUser,
          passwordEnv: t.passwordEnv,
          adminPasswordEnv: t.adminPasswordEnv,
          from: l.file,
        }
        const prev = out.get(t.alias)
        if (prev) {
          const same =
            prev.keyspace === tab.keyspace &&
            prev.shard === tab.shard &&
            prev.port === tab.port &&
            prev.type === tab.type &&
            prev.database === tab.database
          if (!same)
            throw new ShardformError(
              `tablet ${t.alias} is declared differently in ${prev.from} and ${l.file}; an alias names one tablet`,
            )
          continue
        }
        out.set(t.alias, tab)
      }
    }
  }
  return [...out.values()].map(({from: _from, ...t}) => t)
}

function isLoopback(host: string | undefined): boolean {
  return host === undefined || host === '127.0.0.1' || host === 'localhost'
}

function checkTablets(tablets: ClusterTablet[], opts: StartClusterOptions): void {
  const aliases = new Set<string>()
  const ports = new Map<number, string>()
  for (const t of tablets) {
    if (!isLoopback(t.host)) {
      throw new ShardformError(
        `tablet ${t.alias} is declared on host ${t.host}; the local cluster runs on 127.0.0.1 only (set host: 127.0.0.1 in the layout)`,
      )
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(t.alias))
      throw new ShardformError(`tablet alias "${t.alias}" cannot name a folder; use letters, digits, "-", "_" and "."`)
    if (aliases.has(t.alias)) throw new ShardformError(`tablet ${t.alias} is listed twice`)
    aliases.add(t.alias)
    const other = ports.get(t.port)
    if (other)
      throw new ShardformError(`tablets ${other} and ${t.alias} both use port ${t.port}; give each tablet its own port`)
    ports.set(t.port, t.alias)
    const app = t.user ?? opts.appUser ?? DEFAULT_APP_USER
    const admin = t.adminUser ?? opts.adminUser ?? DEFAULT_ADMIN_USER
    if (app === admin || app === REPL_USER || admin === REPL_USER || app === 'root' || admin === 'root') {
      throw new ShardformError(
        `tablet ${t.alias}: the application user (${app}), shardform's admin user (${admin}) and ${REPL_USER} must be different users, and none may be root`,
      )
    }
  }
}

/** MariaDB GRANT treats `_` and `%` in database names as wildcards: escape them to grant on exactly one. */
function grantDb(db: string): string {
  return qid(db.replace(/([_%\\])/g, '\\$1'))
}

/** Users and database on one instance, idempotent, kept out of the binlog (gtid_strict_mode + replicas). */
async function setupInstance(conn: Connection, t: ClusterTablet, opts: StartClusterOptions): Promise<void> {
  const app = t.user ?? opts.appUser ?? DEFAULT_APP_USER
  const admin = t.adminUser ?? opts.adminUser ?? DEFAULT_ADMIN_USER
  const appPw = t.appPassword ?? opts.appPassword ?? ''
  const adminPw = t.adminPassword ?? opts.adminPassword ?? ''
  const host = "'127.0.0.1'"
  const user = (u: string) => `${conn.escape(u)}@${host}`
  await conn.query('SET SESSION sql_log_bin=0')
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${qid(t.database)}`)
  for (const [u, pw] of [
    [app, appPw],
    [admin, adminPw],
    [REPL_USER, opts.replPassword],
  ] as const) {
    await conn.query(`CREATE USER IF NOT EXISTS ${user(u)} IDENTIFIED BY ?`, [pw])
    await conn.query(`ALTER USER ${user(u)} IDENTIFIED BY ?`, [pw])
  }
  await conn.query(`GRANT ${APP_PRIVILEGES.join(', ')} ON ${grantDb(t.database)}.* TO ${user(app)}`)
  await conn.query(`GRANT ALL PRIVILEGES ON *.* TO ${user(admin)}`)
  await conn.query(`GRANT REPLICATION SLAVE ON *.* TO ${user(REPL_USER)}`)
}

async function slaveStatus(conn: Connection): Promise<Record<string, unknown> | undefined> {
  const [rows] = await conn.query('SHOW SLAVE STATUS')
  return (rows as Array<Record<string, unknown>>)[0]
}

/**
 * Point a (re)started replica at its shard's primary with GTID: CHANGE MASTER … MASTER_USE_GTID=slave_pos resumes
 * from what it applied, so re-issuing it is safe, and it picks up a changed replication password.
 */
async function setupReplication(conn: Connection, primaryPort: number, replPassword: string): Promise<void> {
  await conn.query('STOP SLAVE')
  await conn.query(
    "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=?, MASTER_USER=?, MASTER_PASSWORD=?, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
    [primaryPort, REPL_USER, replPassword],
  )
  await conn.query('START SLAVE')
}

export async function replicationHealth(conn: Connection): Promise<ReplicationHealth | undefined> {
  const st = await slaveStatus(conn)
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

async function withRoot<T>(socket: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const conn = await rootConnection(socket)
  try {
    return await fn(conn)
  } finally {
    await conn.end().catch(() => undefined)
  }
}

function isOurMariadbd(pid: number | undefined, p: InstancePaths): boolean {
  return !!pid && pidMatches(pid, 'mariadbd', [`--defaults-file=${p.cnf}`])
}

/** The PID in the instance's pid file, when it is a mariadbd started from this instance's my.cnf. */
function pidFromFile(p: InstancePaths): number | undefined {
  try {
    const pid = Number(readFileSync(p.pidFile, 'utf8').trim())
    return isOurMariadbd(pid, p) ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Start (or find running) one mariadbd per tablet, and etcd when asked; set up users, the database and
 * replication. Idempotent: running instances are left alone, stopped ones restart on their data directory.
 */
export async function startCluster(opts: StartClusterOptions): Promise<Cluster> {
  const started = Date.now()
  const dir = resolve(opts.dir || DEFAULT_LOCAL_DIR)
  const say = opts.onProgress ?? (() => undefined)
  checkTablets(opts.tablets, opts)
  const timeout = opts.startTimeoutMs ?? 60_000

  return withDirLock(dir, '`shardform local up`', async () => {
    const state = readState(dir)
    state.dir = dir
    let saving = Promise.resolve()
    const save = () => (saving = saving.then(() => writeState(state)))

    const timings: ClusterTimings = {etcdMs: 0, templateMs: 0, startMs: 0, setupMs: 0, replicationMs: 0}
    let lap = Date.now()
    const mark = (k: keyof ClusterTimings) => {
      timings[k] = Date.now() - lap
      lap = Date.now()
    }
    // etcd alongside the instances (it takes about as long as one of them).
    const etcdStarted = Date.now()
    const etcdP = opts.etcdPort
      ? ensureEtcd(dir, opts.etcdPort, state, save).then((e) => ((timings.etcdMs = Date.now() - etcdStarted), e))
      : Promise.resolve(undefined)
    etcdP.catch(() => undefined)

    type Job = {t: ClusterTablet; p: InstancePaths; action: ProcessAction; pid?: number; setupNeeded: boolean}
    const jobs: Job[] = []
    for (const t of opts.tablets) {
      const p = instancePaths(join(dir, t.alias))
      const prev = state.tablets[t.alias]
      let pid = prev && isOurMariadbd(prev.pid, p) ? prev.pid : pidFromFile(p)
      if (pid && prev && prev.port !== t.port) {
        throw new ShardformError(
          `tablet ${t.alias} runs on port ${prev.port} (pid ${pid}) but is now declared on port ${t.port}; stop it first with: shardform local down --dir ${opts.dir}`,
        )
      }
      if (pid && !(await answers(p.socket))) {
        // Running but not answering yet (just started, or busy recovering): give it time.
        await waitReady(t.alias, pid, p, timeout).catch(() => {
          pid = undefined
        })
        if (!pid)
          throw new ShardformError(
            `tablet ${t.alias}: mariadbd runs but does not answer on ${p.socket}; see ${p.errorLog}, or run: shardform local down --dir ${opts.dir}`,
          )
      }
      if (pid) {
        state.tablets[t.alias] = {...(prev ?? instanceState(t, p, pid, false)), pid}
        jobs.push({t, p, action: 'running', pid, setupNeeded: !prev?.setupDone})
        continue
      }
      if (!(await portFree(t.port))) {
        throw new ShardformError(
          `port ${t.port} of tablet ${t.alias} is already in use by another program on 127.0.0.1; stop that program or give the tablet another port in its layout`,
        )
      }
      jobs.push({t, p, action: existsSync(join(p.datadir, 'mysql')) ? 'restarted' : 'started', setupNeeded: true})
    }

    const toStart = jobs.filter((j) => j.action !== 'running')
    let bins: MariaDBBinaries | undefined
    let templateData: string | undefined
    if (toStart.length) {
      bins = findMariaDB()
      if (toStart.some((j) => j.action === 'started')) {
        const templateDir = opts.templateDir ?? join(dir, 'template')
        if (!existsSync(join(templateDir, 'READY')))
          say(`Preparing a template data directory in ${templateDir} (mariadb-install-db, once)…`)
        templateData = await ensureTemplate(templateDir, bins)
      }
      mark('templateMs')
      say(`Starting ${toStart.length} mariadbd instance(s) in parallel…`)
    }

    const failures: string[] = []
    await Promise.all(
      toStart.map(async (j) => {
        try {
          if (j.action === 'started') {
            await rm(j.p.datadir, {recursive: true, force: true})
            await copyTemplate(templateData!, j.p.datadir)
          }
          const {pid, exited} = await spawnMariadbd(
            bins!,
            {
              alias: j.t.alias,
              role: j.t.type,
              port: j.t.port,
              serverId: j.t.port,
              bufferPool: opts.bufferPool ?? '64M',
              redoLog: opts.redoLog,
            },
            j.p,
          )
          j.pid = pid
          state.tablets[j.t.alias] = instanceState(j.t, j.p, pid, false)
          await save()
          await waitReady(j.t.alias, pid, j.p, timeout, exited)
        } catch (err) {
          failures.push(errorMessage(err))
        }
      }),
    )
    mark('startMs')
    if (failures.length) {
      await save()
      await etcdP.catch(() => undefined)
      throw new ShardformError(
        `${failures.length} instance(s) did not start:\n${failures.join('\n')}\nThe others keep running; see: shardform local status --dir ${opts.dir}`,
      )
    }

    // Users and database everywhere, then replicas to their primaries (whose replication user now exists).
    await Promise.all(
      jobs
        .filter((j) => j.setupNeeded)
        .map(async (j) => {
          try {
            await withRoot(j.p.socket, (c) => setupInstance(c, j.t, opts))
            state.tablets[j.t.alias] = {...state.tablets[j.t.alias]!, setupDone: true}
          } catch (err) {
            failures.push(`tablet ${j.t.alias}: setting up users failed: ${errorMessage(err)}`)
          }
        }),
    )
    mark('setupMs')
    const primaries = new Map<string, ClusterTablet>()
    for (const t of opts.tablets) if (t.type === 'primary') primaries.set(`${t.keyspace}/${t.shard}`, t)
    // Running instances are left alone (a phase may have stopped replication on purpose, e.g. a clone's rdonly).
    const replicas = jobs.filter((j) => j.t.type !== 'primary' && j.setupNeeded)
    const unattached: string[] = []
    await Promise.all(
      replicas.map(async (j) => {
        const primary = primaries.get(`${j.t.keyspace}/${j.t.shard}`)
        if (!primary) {
          unattached.push(j.t.alias)
          return
        }
        try {
          await withRoot(j.p.socket, (c) => setupReplication(c, primary.port, opts.replPassword))
          state.tablets[j.t.alias] = {...state.tablets[j.t.alias]!, primary: {alias: primary.alias, port: primary.port}}
        } catch (err) {
          failures.push(`tablet ${j.t.alias}: starting replication from ${primary.alias} failed: ${errorMessage(err)}`)
        }
      }),
    )
    await save()
    await saving
    const etcd = await etcdP
    if (failures.length) throw new ShardformError(failures.join('\n'))
    if (unattached.length) say(`No primary is declared for the shard of ${unattached.join(', ')}: not replicating.`)

    // Replicas connect within milliseconds; wait for it so `up` reports a working cluster (or says what is wrong).
    const deadline = Date.now() + (opts.replicationTimeoutMs ?? 10_000)
    const pending = replicas.filter((j) => !unattached.includes(j.t.alias))
    while (pending.length) {
      const health = await Promise.all(
        pending.map((j) => withRoot(j.p.socket, replicationHealth).catch(() => undefined)),
      )
      for (let i = pending.length - 1; i >= 0; i--)
        if (health[i]?.ioRunning === 'Yes' && health[i]?.sqlRunning === 'Yes') pending.splice(i, 1)
      if (!pending.length) break
      if (Date.now() > deadline) {
        const why = pending.map(
          (j, i) =>
            `${j.t.alias}: IO ${health[i]?.ioRunning ?? '?'}, SQL ${health[i]?.sqlRunning ?? '?'}${health[i]?.lastError ? ` (${health[i]!.lastError})` : ''}`,
        )
        say(`Replication is not running yet on: ${why.join('; ')}. Check with: shardform local status`)
        break
      }
      await sleep(50)
    }

    mark('replicationMs')
    const tablets: TabletProcess[] = jobs.map((j) => {
      const s = state.tablets[j.t.alias]!
      return {
        alias: j.t.alias,
        keyspace: j.t.keyspace,
        shard: j.t.shard,
        type: j.t.type,
        host: '127.0.0.1',
        port: j.t.port,
        database: j.t.database,
        pid: s.pid,
        socket: j.p.socket,
        dir: j.p.dir,
        datadir: j.p.datadir,
        errorLog: j.p.errorLog,
        action: j.action,
        ...(s.primary ? {primary: s.primary} : {}),
      }
    })
    return {
      dir,
      tablets,
      etcd,
      elapsedMs: Date.now() - started,
      timings,
      stop: (o?: StopOptions) => stopCluster(dir, o),
    }
  })
}

function instanceState(t: ClusterTablet, p: InstancePaths, pid: number, setupDone: boolean): InstanceState {
  return {
    alias: t.alias,
    keyspace: t.keyspace,
    shard: t.shard,
    type: t.type,
    port: t.port,
    database: t.database,
    serverId: t.port,
    pid,
    dir: p.dir,
    cnf: p.cnf,
    datadir: p.datadir,
    socket: p.socket,
    errorLog: p.errorLog,
    startedAt: new Date().toISOString(),
    ...(setupDone ? {setupDone} : {}),
  }
}

async function ensureEtcd(
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

export interface TabletStatus {
  alias: string
  keyspace: string
  shard: string
  type: TabletType
  port: number
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

export interface LocalUpOptions {
  dir?: string
  layouts: Layout[]
  /** The topology URL: when it is etcd://127.0.0.1:<port>/… and nothing answers there, etcd is started. */
  topoUrl?: string
  templateDir?: string
  bufferPool?: string
  /** innodb_log_file_size (default 64M: with the template's 4M, InnoDB flushes pages all the time under writes). */
  redoLog?: string
  onProgress?: (line: string) => void
}

export interface LocalUpResult extends Cluster {
  /** Password variables that were set nowhere and were generated now (values only in the file). */
  generatedPasswords: string[]
  credentialsFile: string
}

/**
 * `shardform local up`: tablets from layouts, passwords from their environment variables or the credentials file
 * (generated and saved there, mode 0600, when set nowhere), etcd for a loopback etcd topology.
 */
export async function localUp(opts: LocalUpOptions): Promise<LocalUpResult> {
  const specs = tabletsFromLayouts(opts.layouts)
  const names = [
    REPL_PASSWORD_ENV,
    ...specs.flatMap((t) => [t.passwordEnv, t.adminPasswordEnv].filter((n): n is string => !!n)),
  ]
  const pw = ensurePasswords(names)
  const tablets: ClusterTablet[] = specs.map(({passwordEnv, adminPasswordEnv, ...t}) => ({
    ...t,
    appPassword: passwordEnv ? pw.values[passwordEnv] : '',
    adminPassword: adminPasswordEnv ? pw.values[adminPasswordEnv] : '',
  }))
  const cluster = await startCluster({
    dir: opts.dir ?? DEFAULT_LOCAL_DIR,
    tablets,
    replPassword: pw.values[REPL_PASSWORD_ENV]!,
    etcdPort: localEtcdPort(opts.topoUrl || process.env.SHARDFORM_TOPO),
    templateDir: opts.templateDir,
    bufferPool: opts.bufferPool,
    redoLog: opts.redoLog ?? '64M',
    onProgress: opts.onProgress,
  })
  return {...cluster, generatedPasswords: pw.generated, credentialsFile: resolve(pw.file)}
}
