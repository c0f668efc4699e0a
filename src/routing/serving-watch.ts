// Following the topology of one keyspace: watch its keyspace, shards, SrvKeyspace and the tablets (etcd watch or
// file polling, whatever the store does), re-read all of it on every event, and adopt it as a new generation when
// anything changed. A broken watch is set up again and followed by a full re-read, since events may have been lost.
import {performance} from 'node:perf_hooks'
import {keyRangeFromJSON, type KeyRange} from '../keyspace/keyrange.js'
import {keyspacePath, keyspacePrefix, shardsPrefix, srvKeyspacePath, tabletsPrefix} from '../topo/paths.js'
import type {KeyspaceRecord, ShardRecord, SrvKeyspaceRecord, TabletRecord} from '../topo/records.js'
import type {TopoStore} from '../topo/store.js'
import type {ChangeSignal} from './buffer.js'
import type {RoutingSnapshot} from './types.js'

export interface ShardView {
  record: ShardRecord
  keyRange: KeyRange
}

/** One adopted generation of the keyspace's topology, indexed for routing. */
export interface ServingView {
  generation: number
  /** Everything read, as JSON: equal keys mean nothing changed. */
  key: string
  keyspace: KeyspaceRecord
  srv: SrvKeyspaceRecord
  shards: Map<string, ShardView>
  tablets: TabletRecord[]
}

export class ServingWatch implements ChangeSignal {
  private view: ServingView | undefined
  private gen = 0
  private lastChange: string | undefined
  private changeWaiters = new Set<() => void>()
  private listeners = new Set<(s: RoutingSnapshot) => void>()
  private unwatch: Array<() => void> = []
  private refreshing: Promise<void> | undefined
  private dirty = false
  private lastRefresh = 0
  private isClosed = false
  private rewatchTimer: NodeJS.Timeout | undefined

  constructor(
    readonly store: TopoStore,
    readonly keyspace: string,
  ) {}

  /** Start watching and read the topology once; false when the keyspace does not exist. */
  async start(): Promise<boolean> {
    await this.watch()
    await this.refresh()
    return this.view !== undefined
  }

  get generation(): number {
    return this.gen
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** When the last change was adopted (ISO time). */
  get lastChangeAt(): string | undefined {
    return this.lastChange
  }

  /** The generation adopted last (undefined before the keyspace was read). */
  current(): ServingView | undefined {
    return this.view
  }

  /** The adopted topology in its public shape. */
  snapshot(v: ServingView): RoutingSnapshot {
    return {
      generation: v.generation,
      keyspace: v.keyspace,
      srvKeyspace: v.srv,
      shards: [...v.shards.values()].map((s) => s.record),
      tablets: [...v.tablets],
    }
  }

  /** Hear of every change adopted. Returns an unsubscribe function. */
  onChange(listener: (s: RoutingSnapshot) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  waitForChange(generation: number, timeoutMs: number): Promise<boolean> {
    if (this.gen > generation) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer)
        this.changeWaiters.delete(wake)
        resolve(v)
      }
      const wake = () => done(true)
      const timer = setTimeout(() => done(this.gen > generation), Math.max(0, timeoutMs))
      this.changeWaiters.add(wake)
    })
  }

  /** Someone waits on a change: re-read unless that was done within the last second. */
  nudge(): void {
    if (performance.now() - this.lastRefresh > 1_000) void this.requestRefresh()
  }

  /** Stop watching and wake everyone waiting. */
  async close(): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    if (this.rewatchTimer) clearTimeout(this.rewatchTimer)
    for (const u of this.unwatch) u()
    this.unwatch = []
    for (const w of [...this.changeWaiters]) w()
  }

  /** Wait for a re-read in flight (after close()). */
  async settled(): Promise<void> {
    await this.refreshing?.catch(() => undefined)
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
    if (this.isClosed || this.rewatchTimer) return
    for (const u of this.unwatch) u()
    this.unwatch = []
    this.rewatchTimer = setTimeout(async () => {
      this.rewatchTimer = undefined
      if (this.isClosed) return
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
        } while (this.dirty && !this.isClosed)
      } finally {
        this.refreshing = undefined
      }
    })()
    return this.refreshing
  }

  /** Re-read keyspace, shards, SrvKeyspace and tablets; adopt them when anything changed. */
  private async refresh(): Promise<void> {
    if (this.isClosed) return
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
    if (this.view && this.view.key === key) return
    this.gen++
    this.view = {
      generation: this.gen,
      key,
      keyspace: keyspace.value,
      srv: srvRec,
      shards: new Map(shardRecs.map((r) => [r.name, {record: r, keyRange: keyRangeFromJSON(r.keyRange)}])),
      tablets: tabletRecs,
    }
    this.lastChange = new Date().toISOString()
    for (const w of [...this.changeWaiters]) w()
    if (this.listeners.size) {
      const s = this.snapshot(this.view)
      for (const l of this.listeners) l(s)
    }
  }
}
