// Which streams a workflow needs running, from its record alone (the stream manager starts them; the CLI says
// when they pause).
import type {WorkflowRecord} from '../../engine/types.js'

/**
 * Which streams should run for a workflow: forward streams of groups whose sources are cloned (or that never
 * needed a clone: a reverse takes over existing streams) until primary traffic moves; after that, until the
 * sources are retired, the reverse streams that keep the old shards current.
 */
export function liveStreams(wf: WorkflowRecord): {forward: number[]; reverse: number[]} {
  const done = (id: string) => wf.tasks[id]?.state === 'done'
  const forward: number[] = []
  const reverse: number[] = []
  wf.plan.groups.forEach((g, gi) => {
    if (g.mode === 'cancel') return
    const cloned = g.sources.every((s) => !wf.tasks[`clone/${s}`] || done(`clone/${s}`))
    const migrated = done(`migrate_primary/${g.range}`)
    const retired = g.sources.some((s) => done(`retire_sources/${s}`))
    if (cloned && !migrated) forward.push(gi)
    if (migrated && !retired) reverse.push(gi)
  })
  return {forward, reverse}
}
