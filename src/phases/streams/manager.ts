// The streams of one workflow, run inside the apply process. Each (source, destination) pair of a group is one
// stream; streams restart from their stored positions whenever apply restarts. Their status is published to
// the topology (workflows/<id>/Streams) for `shardform status`.
import {keyRangeFromJSON} from '../../keyspace/keyrange.js'
import type {WorkflowRecord} from '../../engine/types.js'
import type {Plan} from '../../plan/types.js'
import {workflowStreamsPath} from '../../topo/paths.js'
import {readKeyspaceState} from '../../topo/state.js'
import type {TopoStore} from '../../topo/store.js'
import {PhaseError, primaryOf, readerServerId, streamId} from '../context.js'
import {Stream, type StreamStatus} from './stream.js'


export interface StreamsRecord {
  updated_at: string
  streams: StreamStatus[]
}

export class StreamManager {
  private streams = new Map<string, Stream>()
  private starting = new Map<string, Promise<Stream>>()
  private publishTimer?: NodeJS.Timeout
  private lastPublished = ''

  constructor(
    private readonly store: TopoStore,
    private readonly workflowId: string,
    private readonly keyspace: string,
    private readonly plan: Plan,
  ) {
    this.publishTimer = setInterval(() => void this.publish(), 2000)
    this.publishTimer.unref()
  }

  /** Start (if not running) every stream of group `g` whose source has been cloned. */
  async ensureGroup(g: number, sources?: string[]): Promise<Stream[]> {
    const group = this.plan.groups[g]
    const out: Stream[] = []
    for (const s of sources ?? group.sources) {
      for (const d of group.destinations) out.push(await this.ensure(g, s, d))
    }
    return out
  }

  async ensure(g: number, source: string, destination: string): Promise<Stream> {
    const id = streamId(this.workflowId, source, destination)
    const running = this.streams.get(id)
    if (running && !running.failure) return running
    if (running) {
      // A failed stream is restarted from its stored position: the cause may have been transient.
      this.streams.delete(id)
      await running.stop()
    }
    let p = this.starting.get(id)
    if (!p) {
      p = this.open(g, source, destination, id)
      this.starting.set(id, p)
      p.then((s) => this.streams.set(id, s)).catch(() => undefined).finally(() => this.starting.delete(id))
    }
    return p
  }

  private async open(g: number, source: string, destination: string, id: string): Promise<Stream> {
    const state = await readKeyspaceState(this.store, this.keyspace)
    if (!state) throw new PhaseError(`keyspace ${this.keyspace} is no longer in the topology`)
    const group = this.plan.groups[g]
    const dests = group.destinations.map((name) => ({name, kr: keyRangeFromJSON(this.plan.desired.shards.find((s) => s.name === name)!.keyRange)}))
    return Stream.start({
      id,
      workflow: this.workflowId,
      database: this.plan.desired.database,
      sourceShard: source,
      source: primaryOf(state, source),
      destinationShard: destination,
      destination: primaryOf(state, destination),
      destRange: dests.find((d) => d.name === destination)!.kr,
      groupDestinations: dests,
      vschema: this.plan.desired.vschema,
      referenceTables: source === group.sources[0],
      serverId: readerServerId(id),
    })
  }

  /** Streams into `destination` (from every source of its group). */
  into(destination: string): Stream[] {
    return [...this.streams.values()].filter((s) => s.spec.destinationShard === destination)
  }

  from(source: string): Stream[] {
    return [...this.streams.values()].filter((s) => s.spec.sourceShard === source)
  }

  async stopGroup(g: number): Promise<void> {
    const group = this.plan.groups[g]
    for (const [id, s] of this.streams) {
      if (group.sources.includes(s.spec.sourceShard) && group.destinations.includes(s.spec.destinationShard)) {
        this.streams.delete(id)
        await s.stop()
      }
    }
    await this.publish()
  }

  status(): StreamStatus[] {
    return [...this.streams.values()].map((s) => s.status())
  }

  async publish(): Promise<void> {
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
    await this.publish()
    this.streams.clear()
  }
}

/** Groups whose streams should run: every source cloned, primary traffic not yet moved. */
export function liveGroups(wf: WorkflowRecord): number[] {
  const out: number[] = []
  wf.plan.groups.forEach((g, gi) => {
    const cloned = g.sources.every((s) => wf.tasks[`clone/${s}`]?.state === 'done')
    const migrated = wf.tasks[`migrate_primary/${g.range}`]?.state === 'done'
    if (cloned && !migrated) out.push(gi)
  })
  return out
}
