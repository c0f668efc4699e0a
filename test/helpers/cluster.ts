// A real local cluster for integration tests: the given layouts with every port moved to a free one of 127.0.0.1,
// test passwords, an etcd (or a file topology), optionally `topo init` and the guestbook schema.
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, dirname, join, resolve} from 'node:path'
import type {Connection, ConnectionOptions} from 'mysql2/promise'
import {parseDocument} from 'yaml'
import type {Runtime} from '../../src/engine/types.js'
import {loadLayout} from '../../src/layout/index.js'
import type {Layout} from '../../src/layout/types.js'
import {
  REPL_PASSWORD_ENV,
  startCluster,
  tabletsFromLayouts,
  type Cluster,
  type LocalTls,
  type TabletProcess,
} from '../../src/local/index.js'
import {findMariaDB, templateKey} from '../../src/local/mariadb.js'
import {connectTablet, type Role} from '../../src/mysql/connect.js'
import {loadSchema} from '../../src/mysql/schema-file.js'
import {dataPlaneRuntime} from '../../src/phases/index.js'
import {initKeyspace} from '../../src/layout/init.js'
import {openTopo} from '../../src/topo/open.js'
import type {TabletRecord, TlsFiles} from '../../src/topo/records.js'
import type {TopoStore} from '../../src/topo/store.js'
import {startEtcd, type TestEtcd} from './etcd.js'
import {freePorts} from './ports.js'
import {registerCleanup, registerProcess, releaseGroup} from './procs.js'

export const GUESTBOOK_DIR = new URL('../../plans/guestbook/', import.meta.url).pathname
export const guestbookFile = (name: string) => join(GUESTBOOK_DIR, name)
export const GUESTBOOK_SCHEMA = readFileSync(guestbookFile('schema.sql'), 'utf8')

export interface TestClusterOptions {
  /** Only 'free' (the default): every tablet gets a free port of 127.0.0.1. */
  ports?: 'free'
  /** Topology backend: a fresh etcd (default; pass one to share it) or a file topology inside the cluster folder. */
  topo?: 'etcd' | 'file'
  etcd?: TestEtcd
  /** Or a topology URL on an etcd the caller started and stops (e.g. a cluster of several members). */
  topoUrl?: string
  /** `topo init` this layout (index into the list, or true for the first one). */
  init?: boolean | number
  /** Load the guestbook schema (or this SQL) on the serving primaries (needs init). */
  schema?: boolean | string
  /** innodb_buffer_pool_size per instance (default 32M: tests run up to 21 of them). */
  bufferPool?: string
  /** innodb_log_file_size per instance (default: the template's 4M). */
  redoLog?: string
  /**
   * TLS everywhere: every instance serves only TLS with `server` (replicas replicate over TLS), the layouts'
   * defaults.tls name `client`, and etcd is reached with `etcdEnv` (SHARDFORM_ETCD_*; pass a TLS `etcd`).
   */
  tls?: {server: LocalTls; client: TlsFiles; etcdEnv?: Record<string, string>}
}

export interface TestCluster {
  dir: string
  topoUrl: string
  /** Open for the whole test; closed by stop(). */
  store: TopoStore
  etcd?: TestEtcd
  /** The layouts with rewritten ports (their files are in <dir>/layouts/, loadable by the CLI). */
  layouts: Layout[]
  layoutFiles: string[]
  tablets: TabletProcess[]
  cluster: Cluster
  /** Variables a CLI subprocess needs: passwords, SHARDFORM_TOPO, SHARDFORM_CREDENTIALS_FILE (and SHARDFORM_ETCD_* with tls). */
  env: Record<string, string>
  /** The tablet as the topology would record it (alias → record), whether or not it is registered. */
  tablet(alias: string): TabletRecord
  /** A new connection to a tablet (app user by default; admin: shardform's user), in its database. */
  connect(alias: string, role?: Role, extra?: ConnectionOptions): Promise<Connection>
  /** One query on a tablet as admin (by default); returns the rows. */
  query<T = Record<string, unknown>>(alias: string, sql: string, params?: unknown[], role?: Role): Promise<T[]>
  /** Wait until every replica/rdonly of the cluster has applied all its primary has (GTID), or throw. */
  waitReplication(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

/** Test passwords: kept in process.env (shared by every cluster of this test process) and passed to subprocesses. */
export function testPasswords(): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of ['SHARDFORM_MYSQL_PASSWORD', 'SHARDFORM_ADMIN_PASSWORD', REPL_PASSWORD_ENV]) {
    process.env[name] ??= `t-${randomBytes(9).toString('base64url')}`
    out[name] = process.env[name]!
  }
  return out
}

/** Register a cluster's mariadbd pids (group: its folder), so a test that never reaches stop() does not leave them. */
export function registerTablets(c: {dir: string; tablets: TabletProcess[]}): void {
  for (const t of c.tablets) registerProcess(`mariadbd ${t.alias} (${c.dir})`, t.pid, {group: c.dir})
}

let sharedTemplate: Promise<string> | undefined
/** One pristine data directory per machine and server version, shared by every test cluster. */
function templateDir(): Promise<string> {
  sharedTemplate ??= templateKey(findMariaDB()).then((key) => join(tmpdir(), 'shardform-test-templates', key))
  return sharedTemplate
}

/** Copy a layout file into `outDir` with ports replaced (in declaration order) and the vschema path made absolute. */
function rewriteLayout(file: string, outDir: string, nextPort: () => number, tls?: TlsFiles): string {
  const doc = parseDocument(readFileSync(file, 'utf8'))
  const vs = doc.get('vschema')
  if (typeof vs === 'string') doc.set('vschema', resolve(dirname(file), vs))
  if (tls) doc.setIn(['defaults', 'tls'], doc.createNode(tls))
  const shards = doc.get('shards') as {
    items: Array<{value: {get(k: string): {items: Array<{set(k: string, v: unknown): void}>}}}>
  }
  for (const pair of shards.items) {
    for (const t of pair.value.get('tablets').items) t.set('port', nextPort())
  }
  const out = join(outDir, basename(file))
  writeFileSync(out, doc.toString())
  return out
}

/** Copies of layout files in `outDir` with every tablet port moved to a free port of 127.0.0.1. */
export async function rewriteLayouts(layoutFiles: string[], outDir: string, tls?: TlsFiles): Promise<string[]> {
  mkdirSync(outDir, {recursive: true})
  const count = layoutFiles
    .map((f) => loadLayout(f))
    .reduce((n, l) => n + l.shards.reduce((m, s) => m + s.tablets.length, 0), 0)
  const ports = await freePorts(count)
  let i = 0
  return layoutFiles.map((f) => rewriteLayout(f, outDir, () => ports[i++]!, tls))
}

/**
 * Start a cluster for `layoutFiles` (e.g. guestbookFile('1-shard.yaml')) on free ports — again when a port it picked
 * was taken before mariadbd bound it (ports are chosen free, then bound later; other tests' outgoing connections draw
 * from the same ephemeral range). A failed start cleans up after itself.
 */
export async function startTestCluster(layoutFiles: string[], opts: TestClusterOptions = {}): Promise<TestCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startTestClusterOnce(layoutFiles, opts)
    } catch (err) {
      if (attempt >= 3 || !/already in use/.test((err as Error).message)) throw err
      console.log(`cluster start failed (${(err as Error).message.split(';')[0]}); starting it again`)
    }
  }
}

async function startTestClusterOnce(layoutFiles: string[], opts: TestClusterOptions): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'shardform-cluster-'))
  const files = await rewriteLayouts(layoutFiles, join(dir, 'layouts'), opts.tls?.client)
  const layouts = files.map((f) => loadLayout(f))

  const passwords = testPasswords()
  let etcd = opts.etcd
  const ownEtcd = !etcd && opts.topo !== 'file' && !opts.topoUrl
  if (ownEtcd) etcd = await startEtcd()
  const topoUrl = opts.topoUrl ?? (opts.topo === 'file' ? `file:${join(dir, 'topo')}` : etcd!.newUrl())

  const specs = tabletsFromLayouts(layouts)
  let cluster: Cluster
  try {
    cluster = await startCluster({
      dir: join(dir, 'local'),
      tablets: specs,
      passwords: Object.fromEntries(
        specs
          .flatMap((t) => [t.passwordEnv, t.adminPasswordEnv])
          .filter((n): n is string => !!n)
          .map((n) => [n, passwords[n] ?? process.env[n] ?? '']),
      ),
      replPassword: passwords[REPL_PASSWORD_ENV]!,
      templateDir: await templateDir(),
      bufferPool: opts.bufferPool ?? '32M',
      ...(opts.redoLog ? {redoLog: opts.redoLog} : {}),
      ...(opts.tls ? {tls: opts.tls.server} : {}),
    })
  } catch (err) {
    await import('../../src/local/index.js')
      .then((m) => m.stopCluster(join(dir, 'local'), {kill: true, purge: true}))
      .catch(() => undefined)
    if (ownEtcd) await etcd!.stop()
    rmSync(dir, {recursive: true, force: true})
    throw err
  }
  registerTablets({dir, tablets: cluster.tablets})
  let store: TopoStore | undefined
  let stopped: Promise<void> | undefined
  const stop = () =>
    (stopped ??= (async () => {
      await store?.close().catch(() => undefined)
      // Everything the cluster's folder records, restarted instances included (stopCluster reads its state file).
      await cluster.stop({kill: true, purge: true}).catch(() => undefined)
      releaseGroup(dir)
      if (ownEtcd) await etcd!.stop()
      rmSync(dir, {recursive: true, force: true})
    })())
  // A failing beforeAll or test that never calls stop(): procs-setup.ts runs it after the file.
  registerCleanup(`test cluster ${dir}`, stop, {group: dir})
  try {
    store = await openTopo(topoUrl, opts.tls?.etcdEnv ? {etcd: {env: opts.tls.etcdEnv}} : {})
    if (opts.init !== undefined && opts.init !== false) {
      await initKeyspace(store, layouts[opts.init === true ? 0 : opts.init])
      if (opts.schema)
        await loadSchemaOrThrow(
          store,
          layouts[opts.init === true ? 0 : opts.init].keyspace,
          opts.schema === true ? GUESTBOOK_SCHEMA : opts.schema,
        )
    }
  } catch (err) {
    // A cluster that failed to get ready is stopped here: the caller never gets it to stop.
    await stop()
    throw err
  }
  const records = new Map(specs.map((t) => [t.alias, t]))
  const tablet = (alias: string) => {
    const r = records.get(alias)
    if (!r) throw new Error(`no tablet ${alias} in this test cluster`)
    return r
  }
  const connect = (alias: string, role: Role = 'app', extra: ConnectionOptions = {}) =>
    connectTablet(tablet(alias), role, {database: tablet(alias).database, ...extra})
  const query = async <T>(alias: string, sql: string, params: unknown[] = [], role: Role = 'admin'): Promise<T[]> => {
    const c = await connect(alias, role)
    try {
      const [rows] = await c.query(sql, params)
      return rows as T[]
    } finally {
      await c.end()
    }
  }

  const waitReplication = async (timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs
    for (const t of cluster.tablets) {
      if (!t.primary) continue
      const [{pos}] = await query<{pos: string}>(t.primary.alias, 'SELECT @@global.gtid_binlog_pos AS pos')
      if (!pos) continue
      for (;;) {
        const [{ok}] = await query<{ok: number | string}>(t.alias, 'SELECT MASTER_GTID_WAIT(?, 1) AS ok', [pos])
        if (Number(ok) === 0) break
        if (Date.now() > deadline)
          throw new Error(`replica ${t.alias} did not reach ${pos} of ${t.primary.alias} in ${timeoutMs} ms`)
      }
    }
  }

  return {
    dir,
    topoUrl,
    store: store!,
    etcd,
    layouts,
    layoutFiles: files,
    tablets: cluster.tablets,
    cluster,
    env: {
      ...passwords,
      ...opts.tls?.etcdEnv,
      SHARDFORM_TOPO: topoUrl,
      SHARDFORM_CREDENTIALS_FILE: join(dir, 'credentials.json'),
    },
    tablet,
    connect,
    query,
    waitReplication,
    stop,
  }
}

async function loadSchemaOrThrow(store: TopoStore, keyspace: string, sql: string): Promise<void> {
  const res = await loadSchema(store, keyspace, sql)
  const bad = res.filter((r) => r.error)
  if (bad.length) throw new Error(bad.map((r) => `${r.shard}: ${r.error}`).join('\n'))
}

/**
 * Register a layout's shards and tablets in a keyspace that already exists (as create_shards would: not serving
 * unless `servedTypes` says so). SrvKeyspace is left alone; see setServing().
 */
export async function addShards(
  store: TopoStore,
  layout: Layout,
  servedTypes: Array<'primary' | 'replica' | 'rdonly'> = [],
): Promise<void> {
  const {shardRecord, tabletRecord} = await import('../../src/layout/records.js')
  const {shardPath, tabletPath} = await import('../../src/topo/paths.js')
  await store.commit([
    ...layout.shards.map((s) => ({
      op: 'put' as const,
      path: shardPath(layout.keyspace, s.name),
      value: shardRecord(s, servedTypes),
      version: null,
    })),
    ...layout.shards.flatMap((s) =>
      s.tablets.map((t) => ({
        op: 'put' as const,
        path: tabletPath(t.alias),
        value: tabletRecord(t, layout.keyspace, s.name, layout.database),
        version: null,
      })),
    ),
  ])
}

/** Point SrvKeyspace (and the shards' servedTypes) at these shards, per tablet type — a cutover in one write. */
export async function setServing(
  store: TopoStore,
  keyspace: string,
  partitions: Partial<Record<'primary' | 'replica' | 'rdonly', string[]>>,
): Promise<void> {
  const {shardPath, shardsPrefix, srvKeyspacePath} = await import('../../src/topo/paths.js')
  const srv = await store.get<{partitions: Record<string, string[]>}>(srvKeyspacePath(keyspace))
  const next = {partitions: {primary: [], replica: [], rdonly: [], ...srv?.value.partitions, ...partitions}}
  const shards = await store.list<{name: string; servedTypes: string[]}>(shardsPrefix(keyspace))
  await store.commit([
    {op: 'put', path: srvKeyspacePath(keyspace), value: next, version: srv?.version ?? null},
    ...shards
      .filter((e) => e.path.endsWith('/Shard'))
      .map((e) => ({
        op: 'put' as const,
        path: shardPath(keyspace, e.value.name),
        value: {
          ...e.value,
          servedTypes: (['primary', 'replica', 'rdonly'] as const).filter((t) =>
            (next.partitions[t] as string[]).includes(e.value.name),
          ),
        },
        version: e.version,
      })),
  ])
}

/** Make a keyspace's vschema that of `layout` (as apply_vschema would). */
export async function setVSchema(store: TopoStore, layout: Layout): Promise<void> {
  const {keyspacePath} = await import('../../src/topo/paths.js')
  const ks = await store.get<Record<string, unknown>>(keyspacePath(layout.keyspace))
  if (!ks) throw new Error(`no keyspace ${layout.keyspace}`)
  await store.update(
    keyspacePath(layout.keyspace),
    {...ks.value, sharded: layout.vschema.sharded, vschema: layout.vschema},
    ks.version,
  )
}

/**
 * The data plane's runtime, with `writes` made on the source as wait_for_filtered_replication/-80 starts: changes
 * after the clone, which only filtered replication carries to the new shards.
 */
export function writesDuringReplication(writes: () => Promise<void>): Runtime {
  const base = dataPlaneRuntime()
  return {
    ...base,
    executors: {
      ...base.executors,
      wait_for_filtered_replication: async (ctx) => {
        if (ctx.task.shard === '-80') await writes()
        return base.executors.wait_for_filtered_replication!(ctx)
      },
    },
  }
}
