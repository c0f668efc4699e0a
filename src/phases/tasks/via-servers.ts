// Clone and diff when `shardform server` drives the workflow: each task runs on whichever live server claims it (the
// work spreads across hosts), and the driver keeps what needs one owner: the streams. A clone's claimant copies and
// records the streams' start positions; the driver then starts the streams. A diff needs the streams into its
// destination held at exact positions, so it takes them along: the driver stops them (lend), the claimant runs them
// under its own owner token while it compares, and the driver takes them back afterwards (fencing refuses the
// claimant's appliers from then on).
import type {Executor, TaskContext, TaskResult} from '../../engine/types.js'
import {taskStreamsPath} from '../../engine/task-items.js'
import type {TopoStore} from '../../topo/store.js'
import {cloneCopy} from '../clone.js'
import {PhaseError} from '../context.js'
import {diff} from '../diff.js'
import {StreamManager} from '../streams/manager.js'
import {handOutTask} from './hand-out.js'

async function viaServers(ctx: TaskContext): Promise<TaskResult> {
  const r = await handOutTask(ctx)
  if (!r.ok) throw new PhaseError(r.error ?? `failed on server ${r.server}`)
  return r.output ? {output: r.output} : {}
}

export const cloneViaServers: Executor = async (ctx) => {
  const r = await viaServers(ctx)
  await (ctx.services as StreamManager).ensureGroup(ctx.task.group!, [ctx.task.shard])
  return r
}

export const diffViaServers: Executor = async (ctx) => {
  const manager = ctx.services as StreamManager
  await manager.lend(ctx.task.group!, ctx.task.shard)
  try {
    return await viaServers(ctx)
  } finally {
    // Failing to start them here is not the diff's outcome: the next phase that needs them starts them again.
    await manager
      .unlend(ctx.task.group!, ctx.task.shard)
      .catch((e: unknown) => ctx.log(`streams into ${ctx.task.shard} did not start again yet: ${(e as Error).message}`))
  }
}

/** The phases whose tasks a server of this version runs as work items. */
export const CLAIMABLE_PHASES: readonly string[] = ['clone', 'diff']

/** What a server runs for a claimed task of `phase`, and what to stop afterwards. */
export interface ClaimedExecutor {
  exec: Executor
  services: unknown
  stop(): Promise<void>
}

export function claimedExecutor(
  phase: string,
  o: {
    store: TopoStore
    workflow: string
    keyspace: string
    task: string
    plan: TaskContext['plan']
    owner: string
    server: string
    log: (line: string) => void
  },
): ClaimedExecutor | undefined {
  if (phase === 'clone') return {exec: cloneCopy, services: undefined, stop: async () => undefined}
  if (phase !== 'diff') return undefined
  const manager = new StreamManager(o.store, o.workflow, o.keyspace, o.plan, {
    owner: o.owner,
    server: o.server,
    statusPath: taskStreamsPath(o.workflow, o.task),
    log: o.log,
  })
  return {exec: diff, services: manager, stop: () => manager.stopAll()}
}
