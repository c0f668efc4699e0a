// The streams of one workflow, run inside the apply process. Each (source, destination) pair of a group is one
// stream; streams restart from their stored positions whenever apply restarts. Their status is published to
// the topology (workflows/<id>/Streams) for `shardform status`. Run by a `shardform server` (handOut), the streams
// are handed out as work items (items.ts) while the workflow waits, and taken back when a phase needs them.
import {keyRangeFromJSON} from '../../keyspace/keyrange.js'
import type {Plan} from '../../plan/types.js'
import {workflowPath, workflowStreamsPath} from '../../topo/paths.js'
import {readKeyspaceState} from '../../plan/keyspace-state.js'
import type {TopoStore} from '../../topo/store.js'
import {readWorkflowRecord} from '../../engine/record.js'
import {isFinished, type WorkflowRecord} from '../../engine/types.js'
import {itemKey, listItems, putItem, removeItem, waitUnclaimed, type StreamItem} from './items.js'
import {liveStreams} from './live.js'
import {PhaseError, primaryOf, streamId} from '../context.js'
import {holdHeartbeat} from './heartbeats.js'
import {PROCESS_OWNER} from './state.js'
import {Stream} from './stream.js'
import type {StreamStatus} from './types.js'

/** How often stream status is published: `status` is current to within this (and one topology read). */
const PUBLISH_MS = 500

export interface StreamsRecord {
  updated_at: string
  /** An item's Status record: the server running the stream. */
  server?: string
  streams: StreamStatus[]
}

export interface StreamManagerOptions {
  /** One line per stream event worth a log line (a stream taken over by another applier). */
  log?: (line: string) => void
  /**
   * The owner token the streams claim (default: this process run's). A long-running process that can lose a stream
   * and later be given it again passes a new token per grant (e.g. with its lease id): a token that lost a stream
   * never takes it back.
   */
  owner?: string
  /** The `shardform server` running these streams (shown in status). */
  server?: string
  /** A server's driver: hand the streams out as work items while the workflow waits (needs `server`). */
  handOut?: boolean
  /** Publish status here (an item's Status record, with `server`) instead of workflows/<id>/Streams. */
  statusPath?: string
  /** How long taking a stream back waits for the server running it to hand it back (ms; then fencing takes it). */
  takeBackMs?: number
}

/** Waiting for approval with no task running: the streams are not needed by the driver until something changes. */
export function idle(wf: Pick<WorkflowRecord, 'state' | 'tasks'>): boolean {
  return wf.state === 'waiting' && !Object.values(wf.tasks).some((t) => t.state === 'running')
}

export class StreamManager {
  private streams = new Map<string, Stream>()
  private starting = new Map<string, Promise<Stream>>()
  private publishTimer?: NodeJS.Timeout
  private lastPublished = ''
  /** Per source primary that running streams read from: this manager's hold on its heartbeat writer (heartbeats.ts). */
  private heartbeats = new Map<string, () => Promise<void>>()
  /** Handing out and taking back, one at a time (a stream is never both here and out). */
  private serial: Promise<unknown> = Promise.resolve()
  /** Per stream: how many times this manager took it back (each time under a new owner token). */
  private generation = new Map<string, number>()
  private unwatch?: () => void
  private stopped = false
  /** Destinations whose streams run elsewhere for a diff (lend). */
  private readonly lent = new Set<string>()

  constructor(
    private readonly store: TopoStore,
    private readonly workflowId: string,
    private readonly keyspace: string,
    private readonly plan: Plan,
    private readonly opts: StreamManagerOptions = {},
  ) {
    this.publishTimer = setInterval(() => {
      this.syncHeartbeats()
      void this.publish()
    }, PUBLISH_MS)
    this.publishTimer.unref()
    if (opts.handOut) {
      void store
        .watch<unknown>(workflowPath(workflowId), (ev) => {
          if (ev.type === 'put' && idle(readWorkflowRecord(ev.entry.value))) void this.handOutIfIdle()
        })
        .then((u) => (this.unwatch = u))
        .catch(() => undefined)
    }
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.serial.then(fn, fn)
    this.serial = p.catch(() => undefined)
    return p
  }

  private owner(id: string): string | undefined {
    const n = this.generation.get(id) ?? 0
    const base = this.opts.owner
    return n === 0 ? base : `${base ?? PROCESS_OWNER} take ${n}`
  }

  /**
   * The workflow waits: stop the streams here at committed positions and hand each out as a work item (a server
   * claims it and runs it from the stored position). Re-read under the lock: a phase may have started meanwhile.
   */
  handOutIfIdle(): Promise<void> {
    return this.locked(async () => {
      const cur = await this.store.get<unknown>(workflowPath(this.workflowId))
      if (!cur || !idle(readWorkflowRecord(cur.value)) || this.stopped) return
      await this.handOutLocal()
    })
  }

  private async handOutLocal(): Promise<void> {
    for (const [id, s] of [...this.streams]) {
      if (s.fenced) continue
      this.streams.delete(id)
      await s.stop()
      await putItem(this.store, this.itemOf(s, 'running'))
      this.opts.log?.(`stream ${s.spec.sourceShard} → ${s.spec.destinationShard} handed out to the servers`)
    }
    this.syncHeartbeats()
    await this.publish()
  }

  private itemOf(s: Stream, desired: StreamItem['desired']): Omit<StreamItem, 'updatedAt'> {
    const {sourceShard: source, destinationShard: destination} = s.spec
    return {...this.itemFields(source, destination), desired}
  }

  private itemFields(source: string, destination: string) {
    const g = this.plan.groups.findIndex(
      (x) =>
        (x.sources.includes(source) && x.destinations.includes(destination)) ||
        (x.destinations.includes(source) && x.sources.includes(destination)),
    )
    const reverse = g >= 0 && this.plan.groups[g]!.destinations.includes(source)
    return {
      workflow: this.workflowId,
      keyspace: this.keyspace,
      stream: streamId(this.keyspace, source, destination),
      group: g,
      source,
      destination,
      reverse,
    }
  }

  /** A new driver of a waiting workflow: offer its live streams as items instead of running them here. */
  async offer(g: number, reverse: boolean): Promise<void> {
    const group = this.plan.groups[g]
    const [from, to] = reverse ? [group.destinations, group.sources] : [group.sources, group.destinations]
    for (const s of from)
      for (const d of to) await putItem(this.store, {...this.itemFields(s, d), group: g, reverse, desired: 'running'})
  }

  /** Before running a stream here: ask the server running it (if any) to hand it back, and wait until it has. */
  private takeBack(source: string, destination: string): Promise<void> {
    if (!this.opts.handOut) return Promise.resolve()
    return this.locked(async () => {
      const key = itemKey(source, destination)
      const items = await listItems(this.store, this.workflowId)
      const item = items.get(key)
      if (!item) return
      const id = streamId(this.keyspace, source, destination)
      if (item.desired !== 'driver') await putItem(this.store, {...item, desired: 'driver'})
      const back = await waitUnclaimed(this.store, this.workflowId, key, this.opts.takeBackMs ?? 30_000)
      if (!back) this.opts.log?.(`stream ${source} → ${destination} was not handed back in time; taking it over`)
      // A new owner token: the one this manager used before was taken over by the server that ran the item.
      this.generation.set(id, (this.generation.get(id) ?? 0) + 1)
    })
  }

  /** Start (if not running) every stream of group `g` whose source has been cloned. */
  ensureGroup(g: number, sources?: string[]): Promise<Stream[]> {
    const group = this.plan.groups[g]
    return this.ensureBetween(g, sources ?? group.sources, group.destinations, false)
  }

  /** The streams of group `g` into one destination (from every source of the group). */
  ensureInto(g: number, destination: string): Promise<Stream[]> {
    return this.ensureBetween(g, this.plan.groups[g].sources, [destination], false)
  }

  /**
   * A diff of `destination` runs on another server, with the streams into it: stop them here at committed positions
   * and start none of them until `unlend`.
   */
  async lend(g: number, destination: string): Promise<void> {
    this.lent.add(destination)
    await Promise.allSettled([...this.starting.values()])
    // Those a server runs as work items (handed out while the workflow waited) come back first: marked for the driver,
    // they stay unclaimed until `unlend` runs them here.
    for (const s of this.plan.groups[g].sources) await this.takeBack(s, destination)
    for (const [id, s] of [...this.streams]) {
      if (s.spec.destinationShard !== destination) continue
      this.streams.delete(id)
      await s.stop()
    }
    this.syncHeartbeats()
  }

  /** The diff is over: run the streams into `destination` here again, under a new owner token (the diff's took them). */
  async unlend(g: number, destination: string): Promise<Stream[]> {
    this.lent.delete(destination)
    for (const s of this.plan.groups[g].sources) {
      const id = streamId(this.keyspace, s, destination)
      this.generation.set(id, (this.generation.get(id) ?? 0) + 1)
    }
    return this.ensureInto(g, destination)
  }

  /** The reverse streams of group `g` (destinations → sources), which run after its primary cutover. */
  ensureReverse(g: number): Promise<Stream[]> {
    const group = this.plan.groups[g]
    return this.ensureBetween(g, group.destinations, group.sources, true)
  }

  private async ensureBetween(g: number, from: string[], to: string[], reverse: boolean): Promise<Stream[]> {
    // Together: the streams of a source start one shared binlog reader (binlog-hub.ts) instead of rewinding it.
    return Promise.all(from.flatMap((s) => to.map((d) => this.ensure(g, s, d, reverse))))
  }

  async ensure(g: number, source: string, destination: string, reverse = false): Promise<Stream> {
    const id = streamId(this.keyspace, source, destination)
    // A hand-out in progress may be stopping this very stream: after it, the stream is taken back.
    if (this.opts.handOut) await this.serial
    if (this.lent.has(destination))
      throw new PhaseError(
        `the streams into ${destination} run on the server diffing it; they come back when its diff ends`,
      )
    const running = this.streams.get(id)
    // Taken over by another applier: never restarted by this one (its claim would only be refused).
    if (running?.fenced) throw running.fenced
    if (running && !running.failure) return running
    if (running) {
      // A failed stream is restarted from its stored position: the cause may have been transient.
      this.streams.delete(id)
      await running.stop()
    }
    let p = this.starting.get(id)
    if (!p) {
      p = this.takeBack(source, destination).then(() => this.open(g, source, destination, id, reverse))
      this.starting.set(id, p)
      p.then((s) => {
        this.streams.set(id, s)
        this.syncHeartbeats()
        s.onFenced((err) => this.opts.log?.(err.message.split('\n')[0]!))
      })
        .catch(() => undefined)
        .finally(() => this.starting.delete(id))
    }
    return p
  }

  private async open(g: number, source: string, destination: string, id: string, reverse: boolean): Promise<Stream> {
    const state = await readKeyspaceState(this.store, this.keyspace)
    if (!state) throw new PhaseError(`keyspace ${this.keyspace} is no longer in the topology`)
    const group = this.plan.groups[g]
    // Rows are placed among the stream's side of the group: the destinations, or for a reverse stream the sources.
    const targets = reverse ? group.sources : group.destinations
    const range = (name: string) => {
      const s =
        this.plan.desired.shards.find((x) => x.name === name) ?? this.plan.current.shards.find((x) => x.name === name)
      if (!s) throw new PhaseError(`shard ${name} is not in the plan`)
      return keyRangeFromJSON(s.keyRange)
    }
    const dests = targets.map((name) => ({name, kr: range(name)}))
    const vschema =
      this.plan.desired.vschema.sharded || dests.length === 1 ? this.plan.desired.vschema : this.plan.current.vschema
    return Stream.start({
      id,
      workflow: this.workflowId,
      database: this.plan.desired.database,
      sourceShard: source,
      source: primaryOf(state, source),
      destinationShard: destination,
      destination: primaryOf(state, destination),
      destRange: range(destination),
      groupDestinations: dests,
      vschema,
      referenceTables: source === (reverse ? group.destinations : group.sources)[0],
      onDdl: this.plan.desired.settings.onDdl ?? 'stop',
      ...(this.owner(id) ? {owner: this.owner(id)} : {}),
    })
  }

  /** Streams into `destination` (from every source of its group). */
  into(destination: string): Stream[] {
    return [...this.streams.values()].filter((s) => s.spec.destinationShard === destination)
  }

  from(source: string): Stream[] {
    return [...this.streams.values()].filter((s) => s.spec.sourceShard === source)
  }

  /** Stop the streams between the two sides of group `g` (forward, or reverse with `reverse`). */
  async stopGroup(g: number, reverse = false): Promise<void> {
    const group = this.plan.groups[g]
    const [from, to] = reverse ? [group.destinations, group.sources] : [group.sources, group.destinations]
    await this.stopWhere((s) => from.includes(s.spec.sourceShard) && to.includes(s.spec.destinationShard))
  }

  async stopWhere(
    match: (s: {spec: Pick<Stream['spec'], 'sourceShard' | 'destinationShard'>}) => boolean,
  ): Promise<void> {
    for (const [id, s] of this.streams) {
      if (match(s)) {
        this.streams.delete(id)
        await s.stop()
      }
    }
    if (this.opts.handOut) {
      // Streams handed out: taken back (the server running one stops it at a committed position), then forgotten.
      for (const [key, item] of await listItems(this.store, this.workflowId)) {
        if (!match({spec: {sourceShard: item.source, destinationShard: item.destination}})) continue
        await this.takeBack(item.source, item.destination)
        await removeItem(this.store, this.workflowId, key)
      }
    }
    await this.publish()
  }

  /** Start a heartbeat writer for each source a live stream reads, stop those no stream reads any more. */
  private syncHeartbeats(): void {
    const want = new Map<string, Stream>()
    for (const s of this.streams.values()) {
      const st = s.status().state
      if (st === 'running' || st === 'paused' || st === 'starting') want.set(s.spec.source.alias, s)
    }
    for (const [alias, release] of this.heartbeats) {
      if (want.has(alias)) continue
      this.heartbeats.delete(alias)
      void release()
    }
    for (const [alias, s] of want) {
      if (!this.heartbeats.has(alias)) this.heartbeats.set(alias, holdHeartbeat(s.spec.source, s.spec.sourceShard))
    }
  }

  status(): StreamStatus[] {
    const server = this.opts.server
    return [...this.streams.values()].map((s) => (server ? {...s.status(), server} : s.status()))
  }

  async publish(): Promise<void> {
    // A stream another applier took over means this process no longer runs the workflow: its view would overwrite
    // the new owner's.
    if ([...this.streams.values()].some((s) => s.fenced)) return
    const rec: StreamsRecord = {
      updated_at: new Date().toISOString(),
      ...(this.opts.statusPath && this.opts.server ? {server: this.opts.server} : {}),
      streams: this.status(),
    }
    const text = JSON.stringify(rec.streams)
    if (text === this.lastPublished) return
    const path = this.opts.statusPath ?? workflowStreamsPath(this.workflowId)
    try {
      const cur = await this.store.get(path)
      if (cur) await this.store.update(path, rec, cur.version)
      else await this.store.create(path, rec)
      this.lastPublished = text
    } catch {
      // Status publishing is best effort; the next tick tries again.
    }
  }

  async stopAll(): Promise<void> {
    this.stopped = true
    clearInterval(this.publishTimer)
    this.unwatch?.()
    await Promise.allSettled([...this.starting.values()])
    await this.serial
    const local = [...this.streams.values()]
    await Promise.allSettled(local.map((s) => s.stop()))
    await Promise.allSettled([...this.heartbeats.values()].map((release) => release()))
    this.heartbeats.clear()
    if (this.opts.handOut) await this.leaveItems(local).catch(() => undefined)
    await this.publish()
    this.streams.clear()
  }

  /**
   * The driver leaves (finished, interrupted, handing the workflow to another server): a finished workflow's items
   * go; otherwise the streams it ran are offered to the servers until the next driver takes back what it needs.
   */
  private async leaveItems(local: Stream[]): Promise<void> {
    const cur = await this.store.get<unknown>(workflowPath(this.workflowId))
    const wf = cur && readWorkflowRecord(cur.value)
    const items = await listItems(this.store, this.workflowId)
    if (!wf || isFinished(wf)) {
      for (const key of items.keys()) await removeItem(this.store, this.workflowId, key)
      return
    }
    // A driver that lost its claim (paused past its lease) leaves the streams to the one that took the workflow over.
    const lock = await this.store.readLock(this.keyspace)
    if (lock && lock.server !== this.opts.server) return
    const live = liveStreams(wf)
    for (const s of local) {
      if (s.fenced) continue
      const f = this.itemFields(s.spec.sourceShard, s.spec.destinationShard)
      if ((f.reverse ? live.reverse : live.forward).includes(f.group))
        await putItem(this.store, this.itemOf(s, 'running'))
    }
  }
}
