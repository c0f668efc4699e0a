// `shardform server`: register, then claim unfinished workflows whose keyspace lock is free (the lock IS the claim) and
// run each with the same engine as apply, headless: it never approves, it waits at gates for `shardform approve`, so
// the streams it runs stay alive between gates. Stop (SIGTERM): interrupt the runs (streams stop at committed
// positions), release the locks, deregister; another server picks the work up from the stored checkpoints.
import {hostname} from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'
import {apply} from '../engine/apply.js'
import type {RunnerEvent} from '../engine/runner.js'
import {unfinished} from '../engine/select.js'
import type {Runtime, WorkflowRecord} from '../engine/types.js'
import {errorMessage, isErrorCode} from '../errors.js'
import {handBackPrefix, keyspacesPrefix, workflowsPrefix} from '../topo/paths.js'
import type {Entry, LockHandle, TopoStore} from '../topo/store.js'
import {mayTake} from './fair-share.js'
import {handBackRequests} from './hand-back.js'
import {liveServers, register} from './registry.js'
import {readable} from './readable.js'
import {StreamItems} from './stream-items.js'
import {TaskItems} from './task-items.js'

export type ServerLogType =
  | 'registered'
  /** The HTTP side (server --listen) is up: the message names its URL. */
  | 'listening'
  | 'claimed'
  | 'released'
  | 'skipped'
  | 'workflow'
  | 'progress'
  | 'unreachable'
  | 'stopping'
  | 'stopped'
  | 'error'

/** One line of the server's log. */
export interface ServerLog {
  at: string
  server: string
  type: ServerLogType
  message: string
  workflow?: string
  keyspace?: string
  /** type claimed/released of a stream work item: which stream. */
  stream?: string
  /** type workflow/progress: what the engine emitted. */
  event?: RunnerEvent
}

export interface ServerOptions {
  store: TopoStore
  id: string
  version: string
  /** A fresh runtime per workflow run (a runtime holds that run's streams). */
  runtime: () => Promise<Runtime>
  /** Lease of the registration and of every claim (s). */
  ttlSeconds: number
  log: (l: ServerLog) => void
  /** How often to look for work besides watch events (ms, default 1000). */
  scanMs?: number
  hints?: {topo?: string}
}

interface Held {
  workflow: string
  keyspace: string
  stop: AbortController
  done: Promise<void>
}

export class Server {
  private readonly held = new Map<string, Held>()
  /** Workflows left alone until their record changes (version seen when skipped), with why. */
  private readonly skipped = new Map<string, string>()
  private wake?: () => void
  private registration?: LockHandle
  private lastError?: string
  /** The last listing of workflows/: unchanged records are not decoded again (see ListOptions.reuse). */
  private listing = new Map<string, Entry<unknown>>()
  /** The streams this server runs as work items (of any workflow, whoever drives it). */
  private readonly items: StreamItems
  /** The clone and diff tasks this server runs as work items. */
  private readonly tasks: TaskItems

  constructor(private readonly o: ServerOptions) {
    const common = {
      store: o.store,
      server: o.id,
      ttlSeconds: o.ttlSeconds,
      say: (type: 'claimed' | 'released' | 'error', message: string, extra: Partial<ServerLog>) =>
        this.say(type, message, extra),
      wake: () => this.wake?.(),
    }
    this.items = new StreamItems(common)
    this.tasks = new TaskItems(common)
  }

  /** Run until `signal` aborts, then hand everything back. */
  async run(signal: AbortSignal): Promise<void> {
    const {store} = this.o
    this.registration = await register(store, {id: this.o.id, version: this.o.version, ttlSeconds: this.o.ttlSeconds})
    this.say('registered', `server ${this.o.id} registered in ${store.url} (host ${hostname()}, pid ${process.pid})`)
    const lost = new AbortController()
    this.registration.lost.catch((e: unknown) => {
      this.say('error', `registration lost: ${errorMessage(e)}; handing back every workflow`)
      lost.abort(e)
    })
    const unwatch: (() => void)[] = []
    for (const prefix of [keyspacesPrefix(), workflowsPrefix(), handBackPrefix()]) {
      // Status records change every half second while streams run: they are no work to look for.
      const wake = (path: string) => !/\/(Status|Streams)$/.test(path) && this.wake?.()
      unwatch.push(
        await store
          .watch(prefix, (ev) => wake(ev.type === 'put' ? ev.entry.path : ev.path))
          .catch(() => () => undefined),
      )
    }
    const stopAll = AbortSignal.any([signal, lost.signal])
    try {
      while (!stopAll.aborted) {
        let again = false
        await this.scan(stopAll).then(
          (took) => {
            again = took
            this.lastError = undefined
          },
          (e: unknown) => {
            // Once per distinct failure (an etcd outage would otherwise log a line a second).
            const m = errorMessage(e)
            if (m !== this.lastError) this.say('error', `looking for work failed: ${m}`)
            this.lastError = m
          },
        )
        // Took a stream item: look again at once (fair share decides from the claims as they are now).
        if (!again) await this.pause(stopAll)
      }
    } finally {
      this.say(
        'stopping',
        `stopping: handing back ${this.held.size} workflow(s), ${this.items.size} stream(s) and ${this.tasks.size} task(s)`,
      )
      for (const u of unwatch) u()
      for (const h of this.held.values()) h.stop.abort(new Error(`server ${this.o.id} is stopping`))
      await Promise.allSettled([
        ...[...this.held.values()].map((h) => h.done),
        this.items.stopAll(`server ${this.o.id} is stopping`),
        this.tasks.stopAll(`server ${this.o.id} is stopping`),
      ])
      await this.registration.release().catch(() => undefined)
      this.say('stopped', `server ${this.o.id} stopped and deregistered`)
    }
    if (lost.signal.aborted && !signal.aborted) throw lost.signal.reason
  }

  /** One look for work: take at most one workflow (so others see our claim before we count again). */
  private async scan(stop: AbortSignal): Promise<boolean> {
    const {store} = this.o
    const wanted = await handBackRequests(store)
    for (const h of this.held.values()) {
      const who = wanted.get(h.keyspace)
      if (!who || h.stop.signal.aborted) continue
      this.say('released', `${who} asks for keyspace ${h.keyspace}: handing workflow ${h.workflow} back`, {
        workflow: h.workflow,
        keyspace: h.keyspace,
      })
      h.stop.abort(new Error(`${who} asked for keyspace ${h.keyspace}`))
    }
    // Stream claims are counted from the listing of workflows/ below.
    const servers = await liveServers(store, {streams: false})
    const held = new Map(servers.map((s) => [s.id, s.workflows.length]))
    const live = servers.map((s) => s.id)
    if (!live.includes(this.o.id)) live.push(this.o.id)
    held.set(this.o.id, Math.max(held.get(this.o.id) ?? 0, this.held.size))
    const entries = await store.list<unknown>(workflowsPrefix(), {reuse: this.listing})
    this.listing = new Map(entries.map((e) => [e.path, e]))
    // Streams handed out as work items first: they keep replication alive while workflows wait.
    const takers = servers.filter((s) => s.workItems.includes('stream')).map((s) => s.id)
    if (!takers.includes(this.o.id)) takers.push(this.o.id)
    if (await this.items.scan(entries, takers, stop)) return true
    // Then clone and diff tasks, among the servers that run them (older versions do not).
    const taskTakers = servers.filter((s) => s.workItems.includes('task')).map((s) => s.id)
    if (!taskTakers.includes(this.o.id)) taskTakers.push(this.o.id)
    if (await this.tasks.scan(entries, taskTakers, stop)) return true
    for (const e of entries.filter((x) => x.path.endsWith('/Workflow'))) {
      const id = e.path.split('/')[1]!
      if (this.held.has(id) || stop.aborted) continue
      if (this.skipped.get(id) === e.version) continue
      this.skipped.delete(id)
      const {why, wf} = readable(e.value)
      if (!wf) {
        this.skip(id, e.version, `not taking workflow ${id}: its record cannot be read (${why}); leaving it alone`)
        continue
      }
      if (!unfinished([wf]).length) continue
      if (wf.state === 'failed') {
        this.skip(id, e.version, `workflow ${id} failed; it waits for shardform retry (not run by servers)`, wf)
        continue
      }
      if (wanted.has(wf.keyspace) || (await store.readLock(wf.keyspace))) continue
      if (!mayTake(this.o.id, live, held)) continue
      if (await this.take(wf, stop)) return false
    }
    return false
  }

  /** Claim (the keyspace lock, taken by apply's resume path) and run; false when another server was faster. */
  private async take(wf: WorkflowRecord, stop: AbortSignal): Promise<boolean> {
    const ac = new AbortController()
    const onStop = () => ac.abort(stop.reason)
    stop.addEventListener('abort', onStop, {once: true})
    let claimed!: (ok: boolean) => void
    const gotLock = new Promise<boolean>((r) => (claimed = r))
    const runtime = await this.o.runtime()
    const ctx = {workflow: wf.id, keyspace: wf.keyspace}
    const done = (async () => {
      try {
        const r = await apply({
          store: this.o.store,
          runtime,
          workflowId: wf.id,
          lockTimeoutMs: 0,
          lockTtlSeconds: this.o.ttlSeconds,
          server: this.o.id,
          who: `server ${this.o.id}@${hostname()}`,
          signal: ac.signal,
          hints: this.o.hints ?? {},
          ui: {
            info: (m) => {
              claimed(true)
              this.say('claimed', m, ctx)
            },
            emit: (ev) => this.say(ev.kind === 'event' ? 'workflow' : 'progress', '', {...ctx, event: ev}),
          },
        })
        claimed(true)
        const how =
          r.state === 'interrupted'
            ? `interrupted (${errorMessage(r.reason)})`
            : r.state === 'failed'
              ? 'failed'
              : r.state
        this.say('released', `workflow ${wf.id}: ${how}; released keyspace ${wf.keyspace}`, ctx)
      } catch (e) {
        if (isErrorCode(e, 'engine.lock_held')) {
          claimed(false)
          return
        }
        claimed(true)
        const cur = await this.o.store.get(`workflows/${wf.id}/Workflow`).catch(() => undefined)
        this.skip(wf.id, cur?.version ?? '', `workflow ${wf.id} not run: ${errorMessage(e)}`, wf)
      } finally {
        stop.removeEventListener('abort', onStop)
        this.held.delete(wf.id)
        this.wake?.()
      }
    })()
    this.held.set(wf.id, {workflow: wf.id, keyspace: wf.keyspace, stop: ac, done})
    return gotLock
  }

  private skip(id: string, version: string, message: string, wf?: WorkflowRecord): void {
    this.skipped.set(id, version)
    this.say('skipped', message, wf ? {workflow: wf.id, keyspace: wf.keyspace} : {workflow: id})
  }

  private async pause(stop: AbortSignal): Promise<void> {
    if (stop.aborted) return
    const woke = new Promise<void>((r) => (this.wake = r))
    const ac = new AbortController()
    const onStop = () => ac.abort()
    stop.addEventListener('abort', onStop, {once: true})
    await Promise.race([woke, sleep(this.o.scanMs ?? 1000, undefined, {signal: ac.signal}).catch(() => undefined)])
    ac.abort()
    stop.removeEventListener('abort', onStop)
    this.wake = undefined
  }

  private say(type: ServerLogType, message: string, extra: Partial<ServerLog> = {}): void {
    this.o.log({at: new Date().toISOString(), server: this.o.id, type, message, ...extra})
  }
}
