// diff/<dest>: schema, then every row. Each source of the group is read at a position P (on its rdonly, stopped there,
// else in a consistent snapshot on its primary: diff-snapshot.ts) while the stream from it into this destination is
// held exactly at P; the destination is then read as well, both in primary-key order. Any difference fails the task.
// The diff tasks of a group that start together (a cohort: engine/cohorts.ts) share ONE ordered scan of each source
// table that compares against all their destinations at once (diff-scan.ts), so a 1 → 8 split reads its source once,
// not 8 times. Gates stay per destination task: a canary stage approving one destination scans for that one alone,
// and the rest scan together once approved; each task keeps its own result, error and retry.
import {taskClaimPath, type TaskClaim} from '../engine/task-items.js'
import type {Executor, TaskContext, TaskResult} from '../engine/types.js'
import {claimLive} from '../engine/work-items.js'
import {CohortJoin} from './diff-cohort.js'
import {restartIfFrozen} from './diff-snapshot.js'
import {sharedScan, type Participant} from './diff-scan.js'
import {keyspaceState} from './context.js'
import type {StreamManager} from './streams/manager.js'

/** The cohorts of this process; a task that joins after its cohort's scan began scans alone. */
const cohorts = new CohortJoin<Participant, TaskResult>(sharedScan, 30_000)

export const diff: Executor = async (ctx) => {
  const gi = ctx.task.group!
  const manager = ctx.services as StreamManager
  const state = await keyspaceState(ctx)
  const streams = await manager.ensureInto(gi, ctx.task.shard)
  // rdonly tablets an interrupted run of this task left with replication stopped (diff-snapshot.ts).
  const cp: {stopped: string[]} = {stopped: ctx.checkpoint<{stopped?: string[]}>()?.stopped ?? []}
  for (const alias of cp.stopped) {
    const t = state.tablets.find((x) => x.alias === alias)
    if (t) await restartIfFrozen(t, ctx.log)
  }
  const noteFrozen = async (alias: string, stopped: boolean) => {
    cp.stopped = [...cp.stopped.filter((a) => a !== alias), ...(stopped ? [alias] : [])]
    await ctx.saveCheckpoint(cp)
  }
  const cohort = ctx.cohort?.tasks.includes(ctx.task.id) ? ctx.cohort : {id: `${ctx.attempt}`, tasks: [ctx.task.id]}
  const key = `${ctx.workflowId}/${gi}/${cohort.id}`
  return cohorts.join(key, cohort.tasks, ctx.task.id, {ctx, streams, noteFrozen}, ctx.signal, {
    notComing: () => claimedElsewhere(ctx, cohort.tasks),
  })
}

/** On a server (the task runs as a claimed work item): the cohort's tasks another server has claimed. */
async function claimedElsewhere(ctx: TaskContext, tasks: string[]): Promise<string[]> {
  const claim = async (task: string) => (await ctx.store.get<TaskClaim>(taskClaimPath(ctx.workflowId, task)))?.value
  const mine = (await claim(ctx.task.id))?.server
  if (!mine) return []
  const out: string[] = []
  for (const t of tasks) {
    const c = t === ctx.task.id ? undefined : await claim(t)
    if (c?.server && c.server !== mine && claimLive(c)) out.push(t)
  }
  return out
}
