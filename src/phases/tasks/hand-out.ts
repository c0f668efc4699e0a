// The driver's side of a task handed out as a work item (engine/task-items.ts): write the item, wait for a server's
// result, and hand it out again when the server running it goes away without one (its claim ends with its lease).
import {setTimeout as sleep} from 'node:timers/promises'
import {
  taskClaimPath,
  taskItemKey,
  taskItemPath,
  taskItemsPrefix,
  taskResultPath,
  taskStreamsPath,
  type TaskItem,
  type TaskItemResult,
} from '../../engine/task-items.js'
import type {TaskContext} from '../../engine/types.js'
import {claimLive} from '../../engine/work-items.js'
import type {LockRecord} from '../../topo/records.js'

/** How often the driver looks besides watch events (ms). */
const POLL_MS = 500

/** Hand the task out and resolve with what the server that ran it reports. Stopping (ctx.signal) takes it back. */
export async function handOutTask(
  ctx: TaskContext,
  hooks: {claimed?: (server: string) => void} = {},
): Promise<TaskItemResult> {
  const {store, workflowId: workflow, task} = ctx
  const itemPath = taskItemPath(workflow, task.id)
  let handout = 1
  const put = async () => {
    const item: TaskItem = {
      workflow,
      keyspace: ctx.keyspace,
      task: task.id,
      phase: ctx.phase.name,
      attempt: ctx.attempt,
      handout,
      updatedAt: new Date().toISOString(),
      ...(ctx.cohort ? {cohort: ctx.cohort} : {}),
    }
    await store.delete(taskResultPath(workflow, task.id)).catch(() => undefined)
    const cur = await store.get(itemPath)
    if (cur) await store.update(itemPath, item, cur.version)
    else await store.create(itemPath, item)
  }
  let wake: () => void = () => undefined
  const unwatch = await store
    .watch(`${taskItemsPrefix(workflow)}${taskItemKey(task.id)}/`, () => wake())
    .catch(() => () => undefined)
  let claimedBy: string | undefined
  try {
    await put()
    for (;;) {
      ctx.signal.throwIfAborted()
      // The claim first: a server writes its result before it lets go of the claim.
      const claim = await store.get<LockRecord & {server?: string; expires?: number}>(taskClaimPath(workflow, task.id))
      const live = claim && claimLive(claim.value) ? claim.value : undefined
      const res = await store.get<TaskItemResult>(taskResultPath(workflow, task.id))
      if (res && res.value.attempt === ctx.attempt && res.value.handout === handout) return res.value
      if (live && !claimedBy) {
        claimedBy = live.server ?? '?'
        hooks.claimed?.(claimedBy)
      }
      if (!live && claimedBy) {
        ctx.log(`server ${claimedBy} stopped running it without a result (claim ended); handing it out again`)
        claimedBy = undefined
        handout++
        await put()
      }
      await new Promise<void>((resolve) => {
        wake = resolve
        void sleep(POLL_MS, undefined, {signal: ctx.signal})
          .catch(() => undefined)
          .then(() => resolve())
      })
    }
  } finally {
    unwatch()
    // Gone: a server still running it sees so and stops (a finished one has written its result already).
    await store.delete(itemPath).catch(() => undefined)
    await store.delete(taskResultPath(workflow, task.id)).catch(() => undefined)
    await store.delete(taskStreamsPath(workflow, task.id)).catch(() => undefined)
  }
}
