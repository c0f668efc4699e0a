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

/**
 * `order` with apply_vschema moved: to the front, or right after migrate_primary (see vschemaAfterCutover for why the
 * moment matters to the router).
 */
export function placeVSchema<T extends {name: PhaseName}>(order: ReadonlyArray<T>, at: 'first' | 'after_cutover'): T[] {
  const vschema = order.find((ph) => ph.name === 'apply_vschema')!
  const rest = order.filter((ph) => ph !== vschema)
  const i = at === 'first' ? 0 : rest.findIndex((ph) => ph.name === 'migrate_primary') + 1
  return [...rest.slice(0, i), vschema, ...rest.slice(i)]
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
