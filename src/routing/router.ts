// The router (shardform's vtgate, as a library): keyspace id of a row → the shard serving it for a tablet type in
// SrvKeyspace → a pooled connection to that shard's tablet. It watches the topology and follows every change at
// once; writes refused because a shard stopped taking them (a cutover in progress) are held and retried on the
// shard serving after the switch, for up to a buffer window, so clients see a pause instead of an error.
import {performance} from 'node:perf_hooks'
import type {FieldPacket, Pool, PoolConnection, PoolOptions, QueryValues} from 'mysql2/promise'
import {ShardformError, errorMessage} from '../errors.js'
import {keyRangeContains, keyRangeFromJSON, type KeyRange} from '../keyspace/keyrange.js'
import type {VindexValue} from '../keyspace/vindexes/index.js'
import {tableRouting, type TableRouting} from '../keyspace/vschema.js'
import {tabletPool, type Role} from '../mysql/connect.js'
import {keyspacePath, keyspacePrefix, shardsPrefix, srvKeyspacePath, tabletsPrefix} from '../topo/paths.js'
import type {KeyspaceRecord, ShardRecord, SrvKeyspaceRecord, TabletRecord, TabletType} from '../topo/records.js'
import type {TopoStore} from '../topo/store.js'

export const DEFAULT_BUFFER_WINDOW_MS = 10_000

export interface RouterOptions {
  /** An open topology store (left open by close()), or … */
  store?: TopoStore
  /** … a topology URL to open (closed by close()). Default: $SHARDFORM_TOPO, else file:.shardform/topo. */
  topoUrl?: string
  keyspace: string
  /** How long a write refused by a read-only shard (or an unreachable tablet) is held before its error surfaces. */
  bufferWindowMs?: number
  /** While a write is held, retry at least this often even without a topology change (ms, default 250). */
  retryIntervalMs?: number
  /** Which user the pools log in as (default: the application user). */
  role?: Role
  /** Connections per tablet (default 8). */
  connectionLimit?: number
  /** Extra mysql2 pool options. */
  poolOptions?: PoolOptions
}

/** Where one row goes. */
export interface RouteTarget {
  keyspace: string
  table: string
  /** null for unsharded keyspaces and reference tables. */
  keyspaceId: Buffer | null
  shard: string
  /** The type asked for. */
  tabletType: TabletType
  /** The tablet chosen (a primary when the shard has no tablet of the type asked for). */
  tablet: TabletRecord
  /** Topology generation the decision was made on. */
  generation: number
}

export interface ExecuteOptions {
  tabletType?: TabletType
  /** Override the router's buffer window for this call (ms). */
  bufferWindowMs?: number
}

export interface ExecuteResult<T = unknown> {
  rows: T
  fields?: FieldPacket[]
  target: RouteTarget
  /** How long the statement was held by the buffer (0 when it went through at once). */
  bufferedMs: number
  attempts: number
}

export type RouterErrorCode =
  /** No serving shard holds the keyspace id (for that tablet type). */
  | 'no_shard'
  /** The shard has no tablet that could serve the request. */
  | 'no_tablet'
  /** Held for the whole buffer window; the statement was never applied. */
  | 'buffer_timeout'
  /** The connection broke while the statement ran: it may or may not have been applied. */
  | 'uncertain'
  | 'closed'
  | 'unsupported'

export class RouterError extends ShardformError {
  override name = 'RouterError'
  constructor(
    override readonly code: RouterErrorCode,
    message: string,
    readonly target?: RouteTarget,
    override readonly cause?: unknown,
  ) {
    super(message, {code, cause})
  }
  /** True when the statement may have been applied (never retry it blindly). */
  get uncertain(): boolean {
    return this.code === 'uncertain'
  }
}

export interface RouterStats {
  /** Statements executed through execute() (successful or not). */
  executed: number
  /** Statements that were held at least once. */
  buffered: number
  /** Held statements that then succeeded. */
  bufferedOk: number
  /** Held statements whose window ran out. */
  bufferTimeouts: number
  maxBufferedMs: number
  totalBufferedMs: number
  /** Statements held right now. */
  holding: number
  /** Topology generations seen (1 = the first read). */
  generation: number
  lastChangeAt?: string
}

interface ShardView {
  record: ShardRecord
  keyRange: KeyRange
}

/** What the router knows of the keyspace: re-read as a whole on every change. */
export interface RoutingSnapshot {
  generation: number
  keyspace: KeyspaceRecord
  srvKeyspace: SrvKeyspaceRecord
  shards: ShardRecord[]
  tablets: TabletRecord[]
}

const READ_ONLY_ERRNOS = new Set([
  1290 /* ER_OPTION_PREVENTS_STATEMENT */, 1836 /* ER_READ_ONLY_MODE */,
  1792 /* ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION */,
])
const AUTH_ERRNOS = new Set([1044, 1045, 1049, 1698, 1227])
/** ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED, CR_SERVER_GONE_ERROR, CR_SERVER_LOST. */
const LOST_ERRNOS = new Set([1053, 1927, 2006, 2013])

/** A write refused because the server is read-only: rejected before anything changed, so safe to retry. */
export function isReadOnlyError(err: unknown): boolean {
  const e = err as {errno?: number; message?: string}
  if (!e || typeof e.errno !== 'number' || !READ_ONLY_ERRNOS.has(e.errno)) return false
  return e.errno !== 1290 || /read[-_ ]only/i.test(e.message ?? '')
}

export class Router {
  private snap:
    | {
        generation: number
        key: string
        keyspace: KeyspaceRecord
        srv: SrvKeyspaceRecord
        shards: Map<string, ShardView>
        tablets: TabletRecord[]
      }
    | undefined
  private generation = 0
  private readonly pools = new Map<string, Promise<Pool>>()
  private readonly rr = new Map<string, number>()
  private changeWaiters = new Set<() => void>()
  private listeners = new Set<(s: RoutingSnapshot) => void>()
  private unwatch: Array<() => void> = []
  private refreshing: Promise<void> | undefined
  private dirty = false
  private lastRefresh = 0
  private closed = false
  private rewatchTimer: NodeJS.Timeout | undefined
  private readonly st: RouterStats = {
    executed: 0,
    buffered: 0,
    bufferedOk: 0,
    bufferTimeouts: 0,
    maxBufferedMs: 0,
    totalBufferedMs: 0,
    holding: 0,
    generation: 0,
  }
  private readonly routingCache = new Map<string, TableRouting>()

  private constructor(
    readonly store: TopoStore,
    private readonly ownsStore: boolean,
    readonly keyspace: string,
    private readonly opts: RouterOptions,
  ) {}

  /** Read the keyspace from the topology and start watching it. */
  static async open(opts: RouterOptions): Promise<Router> {
    let store = opts.store
    let owns = false
    if (!store) {
      const {openTopo} = await import('../topo/open.js')
      store = await openTopo(opts.topoUrl)
      owns = true
    }
    const r = new Router(store, owns, opts.keyspace, opts)
    try {
      await r.watch()
      await r.refresh()
      if (!r.snap)
        throw new ShardformError(
          `keyspace "${opts.keyspace}" does not exist in ${store.url}; create it with: shardform topo init <layout>`,
        )
    } catch (err) {
      await r.close()
      throw err
    }
    return r
  }

  get bufferWindowMs(): number {
    return this.opts.bufferWindowMs ?? DEFAULT_BUFFER_WINDOW_MS
  }

  stats(): RouterStats {
    return {...this.st, generation: this.generation}
  }

  /** The topology as the router sees it now. */
  snapshot(): RoutingSnapshot {
    const s = this.requireSnap()
    return {
      generation: s.generation,
      keyspace: s.keyspace,
      srvKeyspace: s.srv,
      shards: [...s.shards.values()].map((v) => v.record),
      tablets: [...s.tablets],
    }
  }

  /** Hear of every topology change the router adopts. Returns an unsubscribe function. */
  onChange(listener: (s: RoutingSnapshot) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Resolves when the router has adopted a topology newer than `generation` (or after `timeoutMs`). */
  waitForChange(generation: number, timeoutMs: number): Promise<boolean> {
    if (this.generation > generation) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer)
        this.changeWaiters.delete(wake)
        resolve(v)
      }
      const wake = () => done(true)
      const timer = setTimeout(() => done(this.generation > generation), Math.max(0, timeoutMs))
      this.changeWaiters.add(wake)
    })
  }

  /** Which shard and tablet serve the row whose primary vindex column is `value`. */
  route(table: string, value: VindexValue, tabletType: TabletType = 'primary'): RouteTarget {
    const s = this.requireSnap()
    const routing = this.tableRouting(s.keyspace, table)
    const serving = s.srv.partitions[tabletType] ?? []
    let keyspaceId: Buffer | null = null
    let shard: string | undefined
    if (!s.keyspace.sharded) {
      // Unsharded: one shard ("0") holds everything.
      shard = serving.includes('0') ? '0' : serving[0]
    } else if (routing.kind === 'reference') {
      if (tabletType === 'primary') {
        throw new RouterError(
          'unsupported',
          `table "${table}" is a reference table of sharded keyspace ${this.keyspace}: writes go to every shard, which the router does not do; read it through a replica or rdonly tablet`,
        )
      }
      shard = serving[0]
    } else {
      keyspaceId = routing.vindex.fn(value)
      shard = serving.find((name) => {
        const v = s.shards.get(name)
        return v !== undefined && keyRangeContains(v.keyRange, keyspaceId!)
      })
    }
    if (shard === undefined || !s.shards.has(shard)) {
      const ksid = keyspaceId ? ` keyspace id ${keyspaceId.toString('hex')}` : ''
      throw new RouterError(
        'no_shard',
        `no shard of keyspace ${this.keyspace} serves ${tabletType} traffic for${ksid || ' it'} (serving ${tabletType}: ${serving.join(', ') || 'none'})`,
      )
    }
    const tablet = this.pickTablet(s, shard, tabletType)
    if (!tablet)
      throw new RouterError(
        'no_tablet',
        `shard ${this.keyspace}/${shard} has no ${tabletType} tablet and no primary in the topology`,
      )
    return {keyspace: this.keyspace, table, keyspaceId, shard, tabletType, tablet, generation: s.generation}
  }

  /**
   * A pooled connection (application user unless the router was opened with role 'admin') to the tablet serving
   * the row. Release it with `conn.release()`. No buffering: use execute() for that.
   */
  async connection(table: string, value: VindexValue, tabletType: TabletType = 'primary'): Promise<PoolConnection> {
    const target = this.route(table, value, tabletType)
    const pool = await this.pool(target.tablet)
    return pool.getConnection()
  }

  /** A pooled connection to one tablet of the keyspace (by alias). */
  async tabletConnection(alias: string): Promise<PoolConnection> {
    const t = this.requireSnap().tablets.find((x) => x.alias === alias)
    if (!t) throw new RouterError('no_tablet', `tablet ${alias} is not in keyspace ${this.keyspace}`)
    return (await this.pool(t)).getConnection()
  }

  /**
   * Run one statement on the shard serving the row. A statement refused because the tablet is read-only, or that
   * could not be sent because the tablet was unreachable, or that has no serving shard right now, is held and
   * retried (re-routed each time) when the topology changes or every retryIntervalMs, for up to the buffer window.
   * A connection that breaks while the statement runs is never retried: RouterError('uncertain').
   */
  async execute<T = unknown>(
    table: string,
    value: VindexValue,
    sql: string,
    params?: QueryValues,
    opts: ExecuteOptions = {},
  ): Promise<ExecuteResult<T>> {
    const tabletType = opts.tabletType ?? 'primary'
    const window = opts.bufferWindowMs ?? this.bufferWindowMs
    const retryInterval = this.opts.retryIntervalMs ?? 250
    this.st.executed++
    let heldSince: number | undefined
    let attempts = 0
    let lastErr: unknown
    let lastTarget: RouteTarget | undefined
    /** End a hold: it succeeded, ran out of window, or failed otherwise. */
    const release = (how: 'ok' | 'timeout' | 'failed') => {
      if (heldSince === undefined) return 0
      const ms = performance.now() - heldSince
      heldSince = undefined
      this.st.holding--
      this.st.totalBufferedMs += ms
      this.st.maxBufferedMs = Math.max(this.st.maxBufferedMs, ms)
      if (how === 'ok') this.st.bufferedOk++
      else if (how === 'timeout') this.st.bufferTimeouts++
      return ms
    }
    for (;;) {
      if (this.closed) {
        release('failed')
        throw new RouterError('closed', 'the router is closed', lastTarget, lastErr)
      }
      attempts++
      const generation = this.generation
      let why = ''
      try {
        const target = this.route(table, value, tabletType)
        lastTarget = target
        const control = this.shardControl(target)
        if (control) {
          why = control
        } else {
          const pool = await this.pool(target.tablet)
          let conn: PoolConnection | undefined
          try {
            conn = await pool.getConnection()
          } catch (err) {
            if (isAuthError(err)) throw err
            // Not connected: the statement was never sent.
            why = `tablet ${target.tablet.alias} (${target.tablet.host}:${target.tablet.port}) is unreachable: ${errorMessage(err)}`
            lastErr = err
          }
          if (conn) {
            try {
              const [rows, fields] = await conn.query(sql, params)
              conn.release()
              const bufferedMs = release('ok')
              return {rows: rows as T, fields, target, bufferedMs, attempts}
            } catch (err) {
              const fatal = isConnectionLost(err)
              if (fatal) conn.destroy()
              else conn.release()
              if (isReadOnlyError(err)) {
                why = `tablet ${target.tablet.alias} of shard ${target.shard} is read-only (${errorMessage(err)})`
                lastErr = err
              } else if (fatal) {
                release('failed')
                throw new RouterError(
                  'uncertain',
                  `the connection to tablet ${target.tablet.alias} (${target.tablet.host}:${target.tablet.port}) broke while the statement ran; it may or may not have been applied: ${errorMessage(err)}`,
                  target,
                  err,
                )
              } else {
                release('failed')
                throw err
              }
            }
          }
        }
      } catch (err) {
        if (err instanceof RouterError && err.code === 'no_shard') {
          why = err.message
          lastErr = err
        } else {
          release('failed')
          throw err
        }
      }
      // Hold the statement: wait for the topology to move (or a retry tick), then route it again.
      const now = performance.now()
      if (heldSince === undefined) {
        heldSince = now
        this.st.buffered++
        this.st.holding++
      }
      const left = window - (now - heldSince)
      if (left <= 0) {
        const ms = release('timeout')
        throw new RouterError(
          'buffer_timeout',
          `held for ${Math.round(ms)} ms (buffer window ${window} ms) and never applied: ${why}`,
          lastTarget,
          lastErr,
        )
      }
      if (performance.now() - this.lastRefresh > 1_000) void this.requestRefresh()
      await this.waitForChange(generation, Math.min(retryInterval, left))
    }
  }

  /** Stop watching, end every pool, close the store if the router opened it. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.rewatchTimer) clearTimeout(this.rewatchTimer)
    for (const u of this.unwatch) u()
    this.unwatch = []
    for (const w of [...this.changeWaiters]) w()
    const pools = await Promise.allSettled([...this.pools.values()])
    this.pools.clear()
    await Promise.allSettled(pools.map((p) => (p.status === 'fulfilled' ? p.value.end() : undefined)))
    await this.refreshing?.catch(() => undefined)
    if (this.ownsStore) await this.store.close().catch(() => undefined)
  }

  // ---- internals

  private requireSnap() {
    if (this.closed) throw new RouterError('closed', 'the router is closed')
    if (!this.snap) throw new ShardformError(`keyspace "${this.keyspace}" does not exist in ${this.store.url}`)
    return this.snap
  }

  private tableRouting(ks: KeyspaceRecord, table: string): TableRouting {
    const cached = this.routingCache.get(table)
    if (cached) return cached
    const r = tableRouting(ks.vschema, table)
    this.routingCache.set(table, r)
    return r
  }

  /** A reason to hold writes when the topology says the shard refuses them (a cutover in progress). */
  private shardControl(t: RouteTarget): string | undefined {
    const shard = this.snap?.shards.get(t.shard)?.record
    if (!shard) return undefined
    const ctl = shard.tabletControls?.[t.tabletType]
    if (ctl?.frozen)
      return `shard ${t.shard} refuses ${t.tabletType} traffic for now${ctl.reason ? ` (${ctl.reason})` : ''}`
    if (t.tabletType === 'primary' && shard.frozen) return `shard ${t.shard} is frozen (its writes moved away)`
    return undefined
  }

  private pickTablet(s: NonNullable<Router['snap']>, shard: string, type: TabletType): TabletRecord | undefined {
    const view = s.shards.get(shard)!
    const primary = view.record.primary
      ? s.tablets.find((t) => t.alias === view.record.primary)
      : s.tablets.find((t) => t.shard === shard && t.type === 'primary')
    if (type === 'primary') return primary
    const candidates = s.tablets.filter((t) => t.shard === shard && t.type === type)
    if (!candidates.length) return primary
    const key = `${shard}/${type}`
    const n = (this.rr.get(key) ?? 0) + 1
    this.rr.set(key, n)
    return candidates[n % candidates.length]
  }

  private pool(t: TabletRecord): Promise<Pool> {
    const role = this.opts.role ?? 'app'
    const key = `${t.alias}|${t.host}:${t.port}|${role}|${role === 'admin' ? t.adminUser : t.user}`
    let p = this.pools.get(key)
    if (!p) {
      p = tabletPool(t, role, {
        connectionLimit: this.opts.connectionLimit ?? 8,
        database: t.database,
        ...this.opts.poolOptions,
      })
      this.pools.set(key, p)
      p.catch(() => this.pools.delete(key))
    }
    return p
  }

  private async watch(): Promise<void> {
    const onEvent = () => void this.requestRefresh()
    const onError = () => this.rewatch()
    try {
      this.unwatch.push(await this.store.watch(keyspacePrefix(this.keyspace), onEvent, onError))
      this.unwatch.push(await this.store.watch(tabletsPrefix(), onEvent, onError))
    } catch (err) {
      for (const u of this.unwatch) u()
      this.unwatch = []
      throw err
    }
  }

  /** A watch broke (events may be lost): watch again, then re-read everything. */
  private rewatch(): void {
    if (this.closed || this.rewatchTimer) return
    for (const u of this.unwatch) u()
    this.unwatch = []
    this.rewatchTimer = setTimeout(async () => {
      this.rewatchTimer = undefined
      if (this.closed) return
      try {
        await this.watch()
        await this.requestRefresh()
      } catch {
        this.rewatch()
      }
    }, 500)
  }

  private requestRefresh(): Promise<void> {
    if (this.refreshing) {
      this.dirty = true
      return this.refreshing
    }
    this.refreshing = (async () => {
      try {
        do {
          this.dirty = false
          await this.refresh().catch(() => {
            // Topology unreachable for a moment: keep routing on what we know; the next event or retry re-reads.
          })
        } while (this.dirty && !this.closed)
      } finally {
        this.refreshing = undefined
      }
    })()
    return this.refreshing
  }

  /** Re-read keyspace, shards, SrvKeyspace and tablets; adopt them when anything changed. */
  private async refresh(): Promise<void> {
    if (this.closed) return
    this.lastRefresh = performance.now()
    const ks = this.keyspace
    const [keyspace, srv, shards, tablets] = await Promise.all([
      this.store.get<KeyspaceRecord>(keyspacePath(ks)),
      this.store.get<SrvKeyspaceRecord>(srvKeyspacePath(ks)),
      this.store.list<ShardRecord>(shardsPrefix(ks)),
      this.store.list<TabletRecord>(tabletsPrefix()),
    ])
    if (!keyspace) return
    const shardRecs = shards.filter((e) => e.path.endsWith('/Shard')).map((e) => e.value)
    const tabletRecs = tablets.map((e) => e.value).filter((t) => t.keyspace === ks)
    const srvRec = srv?.value ?? {partitions: {primary: [], replica: [], rdonly: []}}
    const key = JSON.stringify([keyspace.value, srvRec, shardRecs, tabletRecs])
    if (this.snap && this.snap.key === key) return
    if (this.snap && JSON.stringify(this.snap.keyspace.vschema) !== JSON.stringify(keyspace.value.vschema))
      this.routingCache.clear()
    this.generation++
    this.snap = {
      generation: this.generation,
      key,
      keyspace: keyspace.value,
      srv: srvRec,
      shards: new Map(shardRecs.map((r) => [r.name, {record: r, keyRange: keyRangeFromJSON(r.keyRange)}])),
      tablets: tabletRecs,
    }
    this.st.lastChangeAt = new Date().toISOString()
    for (const w of [...this.changeWaiters]) w()
    if (this.listeners.size) {
      const s = this.snapshot()
      for (const l of this.listeners) l(s)
    }
  }
}

/** The connection ended while a statement ran (killed, server gone, socket reset): its outcome is unknown. */
function isConnectionLost(err: unknown): boolean {
  const e = err as {fatal?: boolean; errno?: number}
  return e?.fatal === true || (typeof e?.errno === 'number' && LOST_ERRNOS.has(e.errno))
}

function isAuthError(err: unknown): boolean {
  const e = err as {errno?: number; code?: string}
  return (typeof e?.errno === 'number' && AUTH_ERRNOS.has(e.errno)) || err instanceof ShardformError
}
