// The streams of one workflow, run inside the apply process. Each (source, destination) pair of a group is one
// stream; streams restart from their stored positions whenever apply restarts. Their status is published to
// the topology (workflows/<id>/Streams) for `shardform status`.
import {keyRangeFromJSON} from '../../keyspace/keyrange.js'
import type {Plan} from '../../plan/types.js'
import {workflowStreamsPath} from '../../topo/paths.js'
import {readKeyspaceState} from '../../plan/keyspace-state.js'
import type {TopoStore} from '../../topo/store.js'
import {PhaseError, primaryOf, readerServerId, streamId} from '../context.js'
import {HeartbeatWriter} from '../../mysql/heartbeat.js'
import {PROCESS_OWNER} from './state.js'
import {Stream} from './stream.js'
import type {StreamStatus} from './types.js'

/** How often stream status is published: `status` is current to within this (and one topology read). */
const PUBLISH_MS = 500

export interface StreamsRecord {
  updated_at: string
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
}

export class StreamManager {
  private streams = new Map<string, Stream>()
  private starting = new Map<string, Promise<Stream>>()
  private publishTimer?: NodeJS.Timeout
  private lastPublished = ''
  /** One heartbeat writer per source primary that running streams read from (shared by them). */
  private heartbeats = new Map<string, HeartbeatWriter>()

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
  }

  /** Start (if not running) every stream of group `g` whose source has been cloned. */
  ensureGroup(g: number, sources?: string[]): Promise<Stream[]> {
    const group = this.plan.groups[g]
    return this.ensureBetween(g, sources ?? group.sources, group.destinations, false)
  }

  /** The reverse streams of group `g` (destinations → sources), which run after its primary cutover. */
  ensureReverse(g: number): Promise<Stream[]> {
    const group = this.plan.groups[g]
    return this.ensureBetween(g, group.destinations, group.sources, true)
  }

  private async ensureBetween(g: number, from: string[], to: string[], reverse: boolean): Promise<Stream[]> {
    const out: Stream[] = []
    for (const s of from) {
      for (const d of to) out.push(await this.ensure(g, s, d, reverse))
    }
    return out
  }

  async ensure(g: number, source: string, destination: string, reverse = false): Promise<Stream> {
    const id = streamId(this.keyspace, source, destination)
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
      p = this.open(g, source, destination, id, reverse)
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
      // Per owner: a reader of the same server id makes the source drop the other's connection, so a stale applier
      // resumed after a takeover would cut the new owner's reader (and it would lose its own unread events).
      serverId: readerServerId(`${id}\n${this.opts.owner ?? PROCESS_OWNER}`),
      onDdl: this.plan.desired.settings.onDdl ?? 'stop',
      ...(this.opts.owner ? {owner: this.opts.owner} : {}),
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

  async stopWhere(match: (s: Stream) => boolean): Promise<void> {
    for (const [id, s] of this.streams) {
      if (match(s)) {
        this.streams.delete(id)
        await s.stop()
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
    for (const [alias, w] of this.heartbeats) {
      if (want.has(alias)) continue
      this.heartbeats.delete(alias)
      void w.stop()
    }
    for (const [alias, s] of want) {
      if (this.heartbeats.has(alias)) continue
      const w = new HeartbeatWriter(s.spec.source, s.spec.sourceShard, PROCESS_OWNER)
      this.heartbeats.set(alias, w)
      w.start()
    }
  }

  status(): StreamStatus[] {
    return [...this.streams.values()].map((s) => s.status())
  }

  async publish(): Promise<void> {
    // A stream another applier took over means this process no longer runs the workflow: its view would overwrite
    // the new owner's.
    if ([...this.streams.values()].some((s) => s.fenced)) return
    const rec: StreamsRecord = {updated_at: new Date().toISOString(), streams: this.status()}
    const text = JSON.stringify(rec.streams)
    if (text === this.lastPublished) return
    try {
      const cur = await this.store.get(workflowStreamsPath(this.workflowId))
      if (cur) await this.store.update(workflowStreamsPath(this.workflowId), rec, cur.version)
      else await this.store.create(workflowStreamsPath(this.workflowId), rec)
      this.lastPublished = text
    } catch {
      // Status publishing is best effort; the next tick tries again.
    }
  }

  async stopAll(): Promise<void> {
    clearInterval(this.publishTimer)
    await Promise.allSettled([...this.starting.values()])
    await Promise.allSettled([...this.streams.values()].map((s) => s.stop()))
    await Promise.allSettled([...this.heartbeats.values()].map((w) => w.stop()))
    this.heartbeats.clear()
    await this.publish()
    this.streams.clear()
  }
}
