// The router (shardform's vtgate, as a library): keyspace id of a row → the shard serving it for a tablet type in
// SrvKeyspace → a pooled connection to that shard's tablet. It follows the topology through a ServingWatch and
// hands writes refused during a cutover to the WriteBuffer, which holds and retries them on the new serving shard.
import type {Pool, PoolConnection, QueryValues} from 'mysql2/promise'
import {ShardformError, errorMessage} from '../errors.js'
import {keyRangeContains} from '../keyspace/keyrange.js'
import type {VindexValue} from '../keyspace/vindexes/index.js'
import {tableRouting, type TableRouting} from '../keyspace/vschema.js'
import {tabletPool} from '../mysql/connect.js'
import type {TabletRecord, TabletType} from '../topo/records.js'
import type {TopoStore} from '../topo/store.js'
import {WriteBuffer, type Attempt, type BufferStats} from './buffer.js'
import {RouterError, isAuthError, isConnectionLost, isReadOnlyError} from './errors.js'
import {ServingWatch, type ServingView} from './serving-watch.js'
import {
  DEFAULT_BUFFER_WINDOW_MS,
  type ExecuteOptions,
  type ExecuteResult,
  type RouteTarget,
  type RouterOptions,
  type RoutingSnapshot,
} from './types.js'

export interface RouterStats extends BufferStats {
  /** Statements executed through execute() (successful or not). */
  executed: number
  /** Topology generations seen (1 = the first read). */
  generation: number
  lastChangeAt?: string
}

export class Router {
  private readonly watch: ServingWatch
  private readonly buffer: WriteBuffer
  private readonly pools = new Map<string, Promise<Pool>>()
  private readonly rr = new Map<string, number>()
  private executed = 0
  private readonly routingCache = new Map<string, TableRouting>()
  /** The generation and vschema (JSON) the routing cache was made for. */
  private routingCacheOf = {generation: 0, vschema: ''}

  private constructor(
    readonly store: TopoStore,
    private readonly ownsStore: boolean,
    readonly keyspace: string,
    private readonly opts: RouterOptions,
  ) {
    this.watch = new ServingWatch(store, keyspace)
    this.buffer = new WriteBuffer(this.watch, opts.retryIntervalMs ?? 250)
  }

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
      if (!(await r.watch.start()))
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
    return {
      executed: this.executed,
      ...this.buffer.stats(),
      generation: this.watch.generation,
      ...(this.watch.lastChangeAt ? {lastChangeAt: this.watch.lastChangeAt} : {}),
    }
  }

  /** The topology as the router sees it now. */
  snapshot(): RoutingSnapshot {
    return this.watch.snapshot(this.requireView())
  }

  /** Hear of every topology change the router adopts. Returns an unsubscribe function. */
  onChange(listener: (s: RoutingSnapshot) => void): () => void {
    return this.watch.onChange(listener)
  }

  /** Resolves when the router has adopted a topology newer than `generation` (or after `timeoutMs`). */
  waitForChange(generation: number, timeoutMs: number): Promise<boolean> {
    return this.watch.waitForChange(generation, timeoutMs)
  }

  /** Which shard and tablet serve the row whose primary vindex column is `value`. */
  route(table: string, value: VindexValue, tabletType: TabletType = 'primary'): RouteTarget {
    const s = this.requireView()
    const routing = this.tableRouting(s, table)
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
    const t = this.requireView().tablets.find((x) => x.alias === alias)
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
    this.executed++
    const res = await this.buffer.run(opts.bufferWindowMs ?? this.bufferWindowMs, () =>
      this.tryOnce<T>(table, value, sql, params, tabletType),
    )
    return {...res.value, bufferedMs: res.bufferedMs, attempts: res.attempts}
  }

  /** Stop watching, end every pool, close the store if the router opened it. */
  async close(): Promise<void> {
    if (this.watch.closed) return
    await this.watch.close()
    const pools = await Promise.allSettled([...this.pools.values()])
    this.pools.clear()
    await Promise.allSettled(pools.map((p) => (p.status === 'fulfilled' ? p.value.end() : undefined)))
    await this.watch.settled()
    if (this.ownsStore) await this.store.close().catch(() => undefined)
  }

  // ---- internals

  /** One try of execute(): its result, a reason to hold it, or an error that ends it. */
  private async tryOnce<T>(
    table: string,
    value: VindexValue,
    sql: string,
    params: QueryValues | undefined,
    tabletType: TabletType,
  ): Promise<Attempt<Omit<ExecuteResult<T>, 'bufferedMs' | 'attempts'>>> {
    let target: RouteTarget
    try {
      target = this.route(table, value, tabletType)
    } catch (err) {
      if (err instanceof RouterError && err.code === 'no_shard') return {hold: {why: err.message, cause: err}}
      throw err
    }
    const control = this.shardControl(target)
    if (control) return {hold: {why: control, target}}
    const pool = await this.pool(target.tablet)
    const where = `tablet ${target.tablet.alias} (${target.tablet.host}:${target.tablet.port})`
    let conn: PoolConnection
    try {
      conn = await pool.getConnection()
    } catch (err) {
      if (isAuthError(err)) throw err
      // Not connected: the statement was never sent.
      return {hold: {why: `${where} is unreachable: ${errorMessage(err)}`, cause: err, target}}
    }
    try {
      const [rows, fields] = await conn.query(sql, params)
      conn.release()
      return {done: {rows: rows as T, fields, target}}
    } catch (err) {
      const fatal = isConnectionLost(err)
      if (fatal) conn.destroy()
      else conn.release()
      if (isReadOnlyError(err)) {
        const why = `tablet ${target.tablet.alias} of shard ${target.shard} is read-only (${errorMessage(err)})`
        return {hold: {why, cause: err, target}}
      }
      if (fatal) {
        throw new RouterError(
          'uncertain',
          `the connection to ${where} broke while the statement ran; it may or may not have been applied: ${errorMessage(err)}`,
          target,
          err,
        )
      }
      throw err
    }
  }

  private requireView(): ServingView {
    if (this.watch.closed) throw new RouterError('closed', 'the router is closed')
    const v = this.watch.current()
    if (!v) throw new ShardformError(`keyspace "${this.keyspace}" does not exist in ${this.store.url}`)
    return v
  }

  /** How a table is routed; remembered until the keyspace's vschema changes. */
  private tableRouting(s: ServingView, table: string): TableRouting {
    if (this.routingCacheOf.generation !== s.generation) {
      const vschema = JSON.stringify(s.keyspace.vschema)
      if (vschema !== this.routingCacheOf.vschema) this.routingCache.clear()
      this.routingCacheOf = {generation: s.generation, vschema}
    }
    const cached = this.routingCache.get(table)
    if (cached) return cached
    const r = tableRouting(s.keyspace.vschema, table)
    this.routingCache.set(table, r)
    return r
  }

  /** A reason to hold writes when the topology says the shard refuses them (a cutover in progress). */
  private shardControl(t: RouteTarget): string | undefined {
    const shard = this.watch.current()?.shards.get(t.shard)?.record
    if (!shard) return undefined
    const ctl = shard.tabletControls?.[t.tabletType]
    if (ctl?.frozen)
      return `shard ${t.shard} refuses ${t.tabletType} traffic for now${ctl.reason ? ` (${ctl.reason})` : ''}`
    if (t.tabletType === 'primary' && shard.frozen) return `shard ${t.shard} is frozen (its writes moved away)`
    return undefined
  }

  private pickTablet(s: ServingView, shard: string, type: TabletType): TabletRecord | undefined {
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
}
