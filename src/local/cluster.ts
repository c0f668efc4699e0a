// The local cluster: etcd and one mariadbd per tablet on 127.0.0.1, with GTID replication inside each shard.
// It starts and stops processes only; the topology is changed by `topo init` and `apply`. This file puts the steps
// in order (processes.ts, provision.ts, replication.ts do them) and turns layouts into a cluster for `local up`.
import {existsSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {ShardformError, errorMessage} from '../errors.js'
import type {Layout} from '../layout/types.js'
import {ensurePasswords} from '../mysql/credentials.js'
import {localEtcdPort} from './etcd.js'
import {findMariaDB, instancePaths, withRoot, type InstancePaths, type MariaDBBinaries} from './mariadb.js'
import {
  ensureEtcd,
  runningInstance,
  startInstance,
  stopCluster,
  type EtcdProcess,
  type ProcessAction,
  type StopOptions,
  type StopReport,
} from './processes.js'
import {checkTablets, prepareTemplate, provisionDatadir, setupInstance, type ClusterCredentials} from './provision.js'
import {setupReplication, waitReplicating} from './replication.js'
import {DEFAULT_LOCAL_DIR, instanceState, readState, withDirLock, writeState} from './state.js'
import {placeOf, tabletsFromLayouts, type ClusterTablet, type TabletPlace} from './tablets.js'
import {checkLocalTls, type LocalTls} from './tls.js'

export const REPL_PASSWORD_ENV = 'SHARDFORM_REPL_PASSWORD'

export interface StartClusterOptions extends ClusterCredentials {
  /** Where instances, logs and state.json live (default .shardform/local). */
  dir: string
  tablets: ClusterTablet[]
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
  /**
   * Serve TLS only (require_secure_transport) with this server certificate, and replicate over TLS. Applies to
   * instances started now (my.cnf is written at start) and to replication set up now.
   */
  tls?: LocalTls
  onProgress?: (line: string) => void
}

export interface TabletProcess extends TabletPlace {
  host: '127.0.0.1'
  pid: number
  socket: string
  dir: string
  datadir: string
  errorLog: string
  action: ProcessAction
  /** For replica/rdonly tablets: the primary it replicates from. */
  primary?: {alias: string; port: number}
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

/**
 * Start (or find running) one mariadbd per tablet, and etcd when asked; set up users, the database and
 * replication. Idempotent: running instances are left alone, stopped ones restart on their data directory.
 */
export async function startCluster(opts: StartClusterOptions): Promise<Cluster> {
  const started = Date.now()
  const dir = resolve(opts.dir || DEFAULT_LOCAL_DIR)
  const say = opts.onProgress ?? (() => undefined)
  checkTablets(opts.tablets, opts)
  const tls = opts.tls ? checkLocalTls(opts.tls) : undefined
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

    type Job = {t: ClusterTablet; p: InstancePaths; action: ProcessAction; setupNeeded: boolean}
    const jobs: Job[] = []
    for (const t of opts.tablets) {
      const p = instancePaths(join(dir, t.alias))
      const prev = state.tablets[t.alias]
      const pid = await runningInstance(t, p, prev, timeout, opts.dir)
      if (pid) {
        state.tablets[t.alias] = {...(prev ?? instanceState(t, p, pid, false)), pid}
        jobs.push({t, p, action: 'running', setupNeeded: !prev?.setupDone})
      } else {
        jobs.push({t, p, action: existsSync(join(p.datadir, 'mysql')) ? 'restarted' : 'started', setupNeeded: true})
      }
    }

    const toStart = jobs.filter((j) => j.action !== 'running')
    let bins: MariaDBBinaries | undefined
    let templateData: string | undefined
    if (toStart.length) {
      bins = findMariaDB()
      if (toStart.some((j) => j.action === 'started'))
        templateData = await prepareTemplate(opts.templateDir ?? join(dir, 'template'), bins, say)
      mark('templateMs')
      say(`Starting ${toStart.length} mariadbd instance(s) in parallel…`)
    }

    const failures: string[] = []
    await Promise.all(
      toStart.map(async (j) => {
        try {
          if (j.action === 'started') await provisionDatadir(templateData!, j.p.datadir)
          const cfg = {bufferPool: opts.bufferPool ?? '64M', redoLog: opts.redoLog, timeoutMs: timeout, tls}
          await startInstance(bins!, j.t, j.p, cfg, async (pid) => {
            state.tablets[j.t.alias] = instanceState(j.t, j.p, pid, false)
            await save()
          })
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
          await withRoot(j.p.socket, (c) => setupReplication(c, primary.port, opts.replPassword, tls))
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
    const attached = replicas.filter((j) => !unattached.includes(j.t.alias))
    const notRunning = await waitReplicating(
      attached.map((j) => ({alias: j.t.alias, socket: j.p.socket})),
      opts.replicationTimeoutMs ?? 10_000,
    )
    if (notRunning.length)
      say(`Replication is not running yet on: ${notRunning.join('; ')}. Check with: shardform local status`)

    mark('replicationMs')
    const tablets: TabletProcess[] = jobs.map((j) => {
      const s = state.tablets[j.t.alias]!
      return {
        ...placeOf(j.t),
        host: '127.0.0.1',
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

export interface LocalUpOptions {
  dir?: string
  layouts: Layout[]
  /** The topology URL: when it is etcd://127.0.0.1:<port>/… and nothing answers there, etcd is started. */
  topoUrl?: string
  templateDir?: string
  bufferPool?: string
  /** innodb_log_file_size (default 64M: with the template's 4M, InnoDB flushes pages all the time under writes). */
  redoLog?: string
  /** Server TLS for every instance (see StartClusterOptions.tls). */
  tls?: LocalTls
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
  const tablets = tabletsFromLayouts(opts.layouts)
  const names = [
    REPL_PASSWORD_ENV,
    ...tablets.flatMap((t) => [t.passwordEnv, t.adminPasswordEnv].filter((n): n is string => !!n)),
  ]
  const pw = ensurePasswords(names)
  const cluster = await startCluster({
    dir: opts.dir ?? DEFAULT_LOCAL_DIR,
    tablets,
    passwords: pw.values,
    replPassword: pw.values[REPL_PASSWORD_ENV]!,
    etcdPort: localEtcdPort(opts.topoUrl || process.env.SHARDFORM_TOPO),
    templateDir: opts.templateDir,
    bufferPool: opts.bufferPool,
    redoLog: opts.redoLog ?? '64M',
    tls: opts.tls,
    onProgress: opts.onProgress,
  })
  return {...cluster, generatedPasswords: pw.generated, credentialsFile: resolve(pw.file)}
}
