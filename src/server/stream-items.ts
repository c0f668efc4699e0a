// A server's share of the streams handed out as work items (phases/streams/items.ts): it claims unclaimed items under
// fair share (by item count), each under a lease, and runs each with a new owner token from the position stored on
// the destination. It hands an item back (stops at a committed position, releases the claim) when the driver wants it
// back, when the workflow no longer needs it, when it stops; fencing stops it if another applier took it over.
import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import {isFinished, type WorkflowRecord} from '../engine/types.js'
import {errorMessage, isErrorCode} from '../errors.js'
import {claimLive, itemClaimPath, itemStatusPath, parseItemPath, type StreamItem} from '../phases/streams/items.js'
import {liveStreams} from '../phases/streams/live.js'
import {StreamManager} from '../phases/streams/manager.js'
import type {Stream} from '../phases/streams/stream.js'
import type {LockRecord} from '../topo/records.js'
import {isTopoError, type Entry, type LockHandle, type TopoStore} from '../topo/store.js'
import {mayTake} from './fair-share.js'
import {readable} from './readable.js'

/** A failed stream is started again from its stored position at most this often (ms). */
const RETRY_MS = 5000
/**
 * A stream that did not start here is handed back for another live server to try (this host may not reach a tablet
 * the others reach) and not claimed here again for this long (ms), unless no other server is there to take it.
 */
const COOL_DOWN_MS = 30_000

/** What runs a claimed item's stream (the data plane's stream manager; tests pass their own). */
export type ItemManager = Pick<StreamManager, 'ensure' | 'stopAll'>

export interface StreamItemsOptions {
  store: TopoStore
  server: string
  ttlSeconds: number
  say: (
    type: 'claimed' | 'released' | 'error',
    message: string,
    extra: {workflow: string; keyspace: string; stream: string},
  ) => void
  /** Look again soon (a stream was fenced, a claim lost). */
  wake: () => void
  /** Makes the manager that runs a claimed item's stream (default: the data plane's StreamManager). */
  manager?: (wf: WorkflowRecord, o: {owner: string; statusPath: string; log: (line: string) => void}) => ItemManager
}

interface Running {
  workflow: string
  keyspace: string
  item: StreamItem
  claim: LockHandle
  manager: ItemManager
  stream?: Stream
  retryAt: number
}

/** The live claims in a listing of workflows/: item (workflow/key) → claim record. */
export function itemClaims(
  entries: Pick<Entry<unknown>, 'path' | 'value'>[],
  now = Date.now(),
): Map<string, LockRecord & {server?: string}> {
  const out = new Map<string, LockRecord & {server?: string}>()
  for (const e of entries) {
    const p = parseItemPath(e.path)
    const v = e.value as LockRecord & {expires?: number}
    if (p?.kind === 'Claim' && v && claimLive(v, now)) out.set(`${p.workflow}/${p.key}`, v)
  }
  return out
}

export class StreamItems {
  private readonly running = new Map<string, Running>()
  private readonly run = randomBytes(4).toString('hex')
  private claims = 0
  /** Items whose stream did not start here: not claimed again before this time (ms). */
  private readonly coolDown = new Map<string, number>()
  /** The live servers that take stream items, as of the last scan. */
  private live: string[] = []

  constructor(private readonly o: StreamItemsOptions) {}

  get size(): number {
    return this.running.size
  }

  /** One look, over a listing of workflows/: hand back what is no longer ours to run, then take at most one item. */
  async scan(entries: Entry<unknown>[], live: string[], stop: AbortSignal): Promise<boolean> {
    this.live = live
    // The readable workflow records (one that cannot be read is as good as gone here).
    const workflows = new Map<string, WorkflowRecord>()
    const items = new Map<string, StreamItem>()
    for (const e of entries) {
      const m = /^workflows\/([^/]+)\/Workflow$/.exec(e.path)
      if (m) {
        const {wf} = readable(e.value)
        if (wf) workflows.set(m[1]!, wf)
        continue
      }
      const p = parseItemPath(e.path)
      if (p?.kind === 'Item' && e.value) items.set(`${p.workflow}/${p.key}`, e.value as StreamItem)
    }
    const why = (k: string, item: StreamItem | undefined): string | undefined => {
      if (!item) return 'the driver removed it'
      if (item.desired !== 'running') return 'the driver takes it back'
      const wf = workflows.get(item.workflow)
      if (!wf || isFinished(wf)) return 'its workflow is finished or gone'
      const l = liveStreams(wf)
      if (!(item.reverse ? l.reverse : l.forward).includes(item.group)) return 'its workflow no longer needs it'
      const r = this.running.get(k)
      if (r?.stream?.fenced) return `another applier took it over (${errorMessage(r.stream.fenced).split('\n')[0]})`
      return undefined
    }
    for (const [k, r] of [...this.running]) {
      const reason = why(k, items.get(k))
      if (reason) await this.release(k, reason)
      else if ((!r.stream || r.stream.failure) && Date.now() >= r.retryAt) await this.start(k, r)
    }
    if (stop.aborted) return false
    const claims = itemClaims(entries)
    const held = new Map<string, number>()
    for (const c of claims.values()) if (c.server) held.set(c.server, (held.get(c.server) ?? 0) + 1)
    held.set(this.o.server, Math.max(held.get(this.o.server) ?? 0, this.running.size))
    // A server that joined (or runs fewer for another reason) gets work: hand one back while this server runs two or
    // more than the live server running fewest (it then is the only one fair share lets take it).
    // One at a time: not while an item waits to be claimed (the one handed back last, say).
    const others = live.some((id) => id !== this.o.server)
    const cooling = (k: string) => others && (this.coolDown.get(k) ?? 0) > Date.now()
    const open = [...items].filter(
      ([k, item]) => !this.running.has(k) && !claims.has(k) && !why(k, item) && !cooling(k),
    )
    // Streams of a source this server already reads first: they share its binlog reader (binlog-hub.ts).
    const source = (item: StreamItem) => `${item.workflow}/${item.reverse ? 'reverse' : 'forward'}/${item.source}`
    const reading = new Set([...this.running.values()].map((r) => source(r.item)))
    open.sort(([, a], [, b]) => Number(reading.has(source(b))) - Number(reading.has(source(a))))
    const fewest = Math.min(...live.map((id) => held.get(id) ?? 0))
    const spare = [...this.running.keys()].at(-1)
    if (spare && !open.length && this.running.size >= fewest + 2) {
      await this.release(spare, `fair share: another live server runs ${fewest}, this one ${this.running.size}`)
      return true
    }
    for (const [k, item] of open) {
      if (!mayTake(this.o.server, live, held)) return false
      if (await this.take(k, item, workflows.get(item.workflow)!)) return true
    }
    return false
  }

  /** Claim the item (false when another server was faster) and start its stream. */
  private async take(k: string, item: StreamItem, wf: WorkflowRecord): Promise<boolean> {
    const {store, server} = this.o
    const key = k.slice(item.workflow.length + 1)
    let claim: LockHandle
    try {
      claim = await store.hold(itemClaimPath(item.workflow, key), {
        operation: `stream ${item.source} → ${item.destination} of workflow ${item.workflow}`,
        ttlSeconds: this.o.ttlSeconds,
        data: {server, stream: item.stream},
      })
    } catch (e) {
      if (isTopoError(e, 'lock_held')) return false
      throw e
    }
    // A new owner token per claim: fencing lets it take the stream from whoever ran it before.
    const owner = `server ${server} ${hostname()}:${process.pid} ${this.run} item ${++this.claims}`
    const ctx = {workflow: item.workflow, keyspace: item.keyspace, stream: item.stream}
    const mo = {
      owner,
      statusPath: itemStatusPath(item.workflow, key),
      log: (line: string) => this.o.say('error', line, ctx),
    }
    const manager = this.o.manager
      ? this.o.manager(wf, mo)
      : new StreamManager(store, wf.id, wf.keyspace, wf.plan, {...mo, server})
    const r: Running = {workflow: item.workflow, keyspace: item.keyspace, item, claim, manager, retryAt: 0}
    this.running.set(k, r)
    claim.lost.catch(() => {
      if (this.running.get(k) === r) void this.release(k, 'its claim was lost (lease expired)')
    })
    this.o.say('claimed', `claimed stream ${item.source} → ${item.destination} (${this.describe(item)})`, ctx)
    await this.start(k, r)
    return true
  }

  private describe(item: StreamItem): string {
    return `${item.reverse ? 'reverse, ' : ''}workflow ${item.workflow}`
  }

  private async start(k: string, r: Running): Promise<void> {
    const {item} = r
    const ctx = {workflow: item.workflow, keyspace: item.keyspace, stream: item.stream}
    try {
      r.stream = await r.manager.ensure(item.group, item.source, item.destination, item.reverse)
      r.stream.onFenced(() => this.o.wake())
    } catch (e) {
      r.retryAt = Date.now() + RETRY_MS
      this.o.say('error', `stream ${item.source} → ${item.destination} did not start: ${errorMessage(e)}`, ctx)
      if (this.running.get(k) !== r) return
      if (isErrorCode(e, 'phase.stream_fenced')) await this.release(k, 'another applier owns it')
      else if (this.live.some((id) => id !== this.o.server)) {
        this.coolDown.set(k, Date.now() + COOL_DOWN_MS)
        await this.release(k, `it did not start here; another server may reach what this one cannot`)
      }
    }
  }

  /** Stop the stream at a committed position and release its claim. */
  private async release(k: string, why: string): Promise<void> {
    const r = this.running.get(k)
    if (!r) return
    this.running.delete(k)
    await r.manager.stopAll().catch(() => undefined)
    await r.claim.release().catch(() => undefined)
    this.o.say('released', `handed back stream ${r.item.source} → ${r.item.destination}: ${why}`, {
      workflow: r.workflow,
      keyspace: r.keyspace,
      stream: r.item.stream,
    })
    this.o.wake()
  }

  async stopAll(why: string): Promise<void> {
    await Promise.allSettled([...this.running.keys()].map((k) => this.release(k, why)))
  }
}
