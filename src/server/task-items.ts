// A server's share of the clone and diff tasks handed out as work items (engine/task-items.ts): it claims an open item
// under fair share (by task count), runs it as the task's runner from its stored checkpoint, and reports the result
// for the driver to record. It stops a task whose item went away or changed (the driver moved on), whose claim was
// lost, or when the server stops; the driver hands such a task out again.
import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import {runClaimedTask} from '../engine/claimed-task.js'
import {
  cohortClaimPath,
  cohortHolders,
  parseTaskItemPath,
  taskClaimPath,
  taskClaims,
  taskResultPath,
  type TaskClaim,
  type TaskItem,
  type TaskItemResult,
} from '../engine/task-items.js'
import {errorMessage} from '../errors.js'
import {CLAIMABLE_PHASES, claimedExecutor} from '../phases/tasks/via-servers.js'
import type {Entry, LockHandle, TopoStore} from '../topo/store.js'
import {isTopoError} from '../topo/store.js'
import {mayTake} from './fair-share.js'
import {readable} from './readable.js'

export interface TaskItemsOptions {
  store: TopoStore
  server: string
  ttlSeconds: number
  say: (type: 'claimed' | 'released' | 'error', message: string, extra: {workflow: string; keyspace: string}) => void
  wake: () => void
}

interface Running {
  item: TaskItem
  stop: AbortController
  done: Promise<void>
}

export class TaskItems {
  private readonly running = new Map<string, Running>()
  /** The cohort claims held here (`<workflow>/<cohort id>`), with how many of their tasks run here. */
  private readonly cohorts = new Map<string, {claim: LockHandle; tasks: number}>()
  private readonly run = randomBytes(4).toString('hex')
  private claims = 0

  constructor(private readonly o: TaskItemsOptions) {}

  get size(): number {
    return this.running.size
  }

  /** One look over a listing of workflows/: stop what is no longer ours, then take at most one open task. */
  async scan(entries: Entry<unknown>[], live: string[], stop: AbortSignal): Promise<boolean> {
    const items = new Map<string, TaskItem>()
    const results = new Map<string, TaskItemResult>()
    const records = new Map<string, unknown>()
    for (const e of entries) {
      const m = /^workflows\/([^/]+)\/Workflow$/.exec(e.path)
      if (m) records.set(m[1]!, e.value)
      const p = parseTaskItemPath(e.path)
      if (p?.kind === 'Item' && e.value) items.set(`${p.workflow}/${p.task}`, e.value as TaskItem)
      if (p?.kind === 'Result' && e.value) results.set(`${p.workflow}/${p.task}`, e.value as TaskItemResult)
    }
    // Run already: its result waits for the driver (written before the claim was let go, so seen in this listing).
    const reported = (k: string, item: TaskItem) =>
      results.get(k)?.attempt === item.attempt && results.get(k)?.handout === item.handout
    for (const [k, r] of this.running) {
      const cur = items.get(k)
      if (!cur || cur.attempt !== r.item.attempt || cur.handout !== r.item.handout)
        r.stop.abort(new Error('its driver no longer hands it out (stopped, or handed it out again)'))
    }
    if (stop.aborted) return false
    const claims = taskClaims(entries)
    const held = new Map<string, number>()
    for (const c of claims.values()) if (c.server) held.set(c.server, (held.get(c.server) ?? 0) + 1)
    held.set(this.o.server, Math.max(held.get(this.o.server) ?? 0, this.running.size))
    // A diff whose cohort sibling runs here comes first, whatever the fair share: their shared scan runs here.
    const mine = [...this.running.values()].map((r) => r.item)
    const holders = cohortHolders(entries)
    const how = (item: TaskItem) => cohortClaim(item, this.o.server, mine, claims, holders)
    const open = [...items].sort(([, a], [, b]) => Number(how(b) === 'bundle') - Number(how(a) === 'bundle'))
    for (const [k, item] of open) {
      if (this.running.has(k) || claims.has(k) || reported(k, item)) continue
      // A newer driver's kind of task: left to servers that know it (the driver's own does).
      if (!CLAIMABLE_PHASES.includes(item.phase)) continue
      const raw = records.get(item.workflow)
      if (!raw || readable(raw).why) continue
      const h = how(item)
      if (h === 'elsewhere') continue
      if (h === 'fair' && !mayTake(this.o.server, live, held)) return false
      if (await this.take(k, item, raw, stop)) return true
    }
    return false
  }

  private async take(k: string, item: TaskItem, raw: unknown, stop: AbortSignal): Promise<boolean> {
    const {store, server} = this.o
    if (!(await this.joinCohort(item))) return false
    let claim: LockHandle
    try {
      claim = await store.hold(taskClaimPath(item.workflow, item.task), {
        operation: `task ${item.task} of workflow ${item.workflow}`,
        ttlSeconds: this.o.ttlSeconds,
        data: {server, task: item.task, ...(item.cohort ? {cohort: item.cohort.id} : {})},
      })
    } catch (e) {
      await this.leaveCohort(item)
      if (isTopoError(e, 'lock_held')) return false
      throw e
    }
    const ctx = {workflow: item.workflow, keyspace: item.keyspace}
    const runner = `server ${server} ${hostname()}:${process.pid} ${this.run} task ${++this.claims}`
    const ac = new AbortController()
    const onStop = () => ac.abort(new Error(`server ${server} is stopping`))
    stop.addEventListener('abort', onStop, {once: true})
    claim.lost.catch(() => ac.abort(new Error('its claim was lost (lease expired)')))
    const wf = readable(raw).wf!
    const ce = claimedExecutor(item.phase, {
      store,
      workflow: wf.id,
      keyspace: wf.keyspace,
      task: item.task,
      plan: wf.plan,
      owner: runner,
      server,
      log: (line) => this.o.say('error', line, ctx),
    })
    this.o.say('claimed', `claimed task ${item.task} (attempt ${item.attempt}) of workflow ${item.workflow}`, ctx)
    const done = (async () => {
      let how: string
      try {
        if (!ce) throw new Error(`phase ${item.phase} is not run as a work item by this version`) // see scan
        const res = await runClaimedTask({
          store,
          item,
          runner,
          server,
          who: `server ${server}@${hostname()}`,
          exec: ce.exec,
          services: ce.services,
          signal: ac.signal,
        })
        // The streams a diff ran stop at committed positions before the driver takes them back.
        await ce.stop()
        await writeResult(store, item, res)
        how = res.ok ? 'done' : `failed: ${res.error}`
      } catch (e) {
        await ce?.stop().catch(() => undefined)
        how = `stopped (${errorMessage(ac.signal.aborted ? ac.signal.reason : e)})`
      } finally {
        stop.removeEventListener('abort', onStop)
        this.running.delete(k)
        await claim.release().catch(() => undefined)
        await this.leaveCohort(item)
        this.o.wake()
      }
      this.o.say('released', `task ${item.task} of workflow ${item.workflow}: ${how}`, ctx)
    })()
    this.running.set(k, {item, stop: ac, done})
    return true
  }

  /**
   * Hold the claim of the item's cohort (if it has siblings) for one more task run here; false when another server
   * holds it: that server runs the cohort.
   */
  private async joinCohort(item: TaskItem): Promise<boolean> {
    const c = item.cohort
    if (!c || c.tasks.length < 2) return true
    const k = `${item.workflow}/${c.id}`
    const held = this.cohorts.get(k)
    if (held) {
      held.tasks++
      return true
    }
    try {
      const claim = await this.o.store.hold(cohortClaimPath(item.workflow, c.id), {
        operation: `tasks ${c.tasks.join(', ')} of workflow ${item.workflow} (one cohort)`,
        ttlSeconds: this.o.ttlSeconds,
        data: {server: this.o.server},
      })
      // Its loss only lets another server take a sibling still open; the tasks' own claims fence their work.
      claim.lost.catch(() => undefined)
      this.cohorts.set(k, {claim, tasks: 1})
      return true
    } catch (e) {
      if (isTopoError(e, 'lock_held')) return false
      throw e
    }
  }

  private async leaveCohort(item: TaskItem): Promise<void> {
    const c = item.cohort
    const k = c && `${item.workflow}/${c.id}`
    const held = k && this.cohorts.get(k)
    if (!held || --held.tasks > 0) return
    this.cohorts.delete(k)
    await held.claim.release().catch(() => undefined)
  }

  /** Stop every task at a safe point (its checkpoint) and let go of the claims. */
  async stopAll(why: string): Promise<void> {
    for (const r of this.running.values()) r.stop.abort(new Error(why))
    await Promise.allSettled([...this.running.values()].map((r) => r.done))
  }
}

/**
 * How a server treats an open item of a cohort: `bundle` — we hold the cohort's claim or a sibling runs here, take it
 * (their scan is shared here); `elsewhere` — another server holds the cohort's claim, or a sibling's claim for the same
 * cohort, leave it to that one; `fair` — by fair share.
 */
export function cohortClaim(
  item: TaskItem,
  me: string,
  runningHere: TaskItem[],
  claims: ReadonlyMap<string, TaskClaim>,
  holders: ReadonlyMap<string, string> = new Map(),
): 'bundle' | 'elsewhere' | 'fair' {
  const c = item.cohort
  if (!c || c.tasks.length < 2) return 'fair'
  const holder = holders.get(`${item.workflow}/${c.id}`)
  if (holder !== undefined) return holder === me ? 'bundle' : 'elsewhere'
  if (runningHere.some((r) => r.workflow === item.workflow && r.cohort?.id === c.id)) return 'bundle'
  const other = c.tasks.some((t) => {
    const claim = claims.get(`${item.workflow}/${t}`)
    return claim?.server !== undefined && claim.server !== me && claim.cohort === c.id
  })
  return other ? 'elsewhere' : 'fair'
}

async function writeResult(store: TopoStore, item: TaskItem, res: TaskItemResult): Promise<void> {
  const path = taskResultPath(item.workflow, item.task)
  const cur = await store.get(path)
  if (cur) await store.update(path, res, cur.version)
  else await store.create(path, res)
}
