// Cohorts: the tasks of one phase and one reshard group that the runner starts in the same loop iteration. Tasks of a
// cohort may share work: the diff tasks of a group share one ordered scan of the sources (phases/diff-scan.ts). In
// such a phase the whole cohort starts at once and counts as ONE against the phase's limit (diffParallelism bounds
// scans, not destinations); in other phases the limit counts tasks, as before. Gates stay per task: a canary stage
// that approves one task makes a cohort of one, and the rest form the next cohort when approved.
import {randomBytes} from 'node:crypto'
import type {PlanPhase, PlanTask} from '../plan/types.js'

export interface Cohort {
  /** Unique per start (a resumed or retried run makes a new one). */
  id: string
  /** The task ids started together, the task itself included, in plan order. */
  tasks: string[]
}

/** Phases whose tasks of one group share work, so start together and count as one against the limit. */
const SHARED_PHASES: ReadonlySet<string> = new Set(['diff'])

export function newCohortId(): string {
  return randomBytes(6).toString('hex')
}

/**
 * Which of `ready` (startable tasks, plan order) start now, each with its cohort. `running` holds the cohort of every
 * task still running in this phase; `limit` bounds running tasks, or running cohorts in a shared phase.
 */
export function startNow(
  phase: Pick<PlanPhase, 'name'>,
  ready: PlanTask[],
  running: ReadonlyMap<string, Cohort | undefined>,
  limit: number,
  newId: () => string = newCohortId,
): Array<{task: PlanTask; cohort: Cohort}> {
  // Tasks outside a group have nothing to share: each is a cohort of its own.
  const key = (t: PlanTask) => (t.group === undefined ? `task:${t.id}` : `group:${t.group}`)
  const byKey = new Map<string, PlanTask[]>()
  for (const t of ready) byKey.set(key(t), [...(byKey.get(key(t)) ?? []), t])
  const out: Array<{task: PlanTask; cohort: Cohort}> = []
  if (SHARED_PHASES.has(phase.name)) {
    let busy = new Set([...running].map(([id, c]) => c?.id ?? id)).size
    for (const tasks of byKey.values()) {
      if (busy >= limit) break
      busy++
      const cohort = {id: newId(), tasks: tasks.map((t) => t.id)}
      for (const task of tasks) out.push({task, cohort})
    }
    return out
  }
  const picked = ready.slice(0, Math.max(0, limit - running.size))
  const cohorts = new Map<string, Cohort>()
  for (const t of picked) {
    let c = cohorts.get(key(t))
    if (!c) cohorts.set(key(t), (c = {id: newId(), tasks: []}))
    c.tasks.push(t.id)
    out.push({task: t, cohort: c})
  }
  return out
}
