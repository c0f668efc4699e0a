// Pieces both planners (planner.ts, revert.ts) assemble a Plan from: phases with their gates, the summary counts.
import type {Layout} from '../layout/types.js'
import type {Change, PhaseName, Plan, PlanPhase, PlanTask} from './types.js'

/** The phases of `order` that have tasks, in that order, each with the layout's gate. */
export function phasesOf(
  order: ReadonlyArray<{name: PhaseName; mode: PlanPhase['mode']}>,
  tasks: Map<PhaseName, PlanTask[]>,
  layout: Layout,
): PlanPhase[] {
  return order
    .filter((ph) => tasks.has(ph.name))
    .map((ph) => ({
      name: ph.name,
      mode: ph.mode,
      gate: layout.approvals.phases[ph.name] ?? layout.approvals.default,
      tasks: tasks.get(ph.name)!,
    }))
}

/** The counts of the summary line. */
export function summarize(changes: Change[], phases: PlanPhase[]): Plan['summary'] {
  const count = (action: Change['action']) => changes.filter((c) => c.action === action).length
  return {
    create: count('create'),
    retire: count('retire'),
    update: count('update'),
    move: count('move'),
    tasks: phases.reduce((n, ph) => n + ph.tasks.length, 0),
  }
}
