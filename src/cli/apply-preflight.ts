// Before `apply` starts a new workflow: the pre-flight checks again, and a stop (exit 1, nothing done) on a failure.
// A workflow being resumed is not checked again: it was when it started, and a half-done reshard must stay resumable.
import {ShardformError} from '../errors.js'
import type {Plan} from '../plan/types.js'
import type {TopoStore} from '../topo/store.js'
import type {Colors} from '../util/color.js'
import {usesDataPlane} from './runtime.js'

export interface PreflightGateOptions {
  json: boolean
  colors: Colors
  hints: {topo?: string}
}

/** The plan apply would start a workflow for, or undefined when it resumes one, has nothing to do, or will refuse. */
async function newPlan(store: TopoStore, target: string, hints: {topo?: string}): Promise<Plan | undefined> {
  const [select, {loadLayout}, planning, {readKeyspaceState}] = await Promise.all([
    import('../engine/select.js'),
    import('../layout/index.js'),
    import('../plan/index.js'),
    import('../plan/keyspace-state.js'),
  ])
  const open = select.unfinished(await select.listWorkflows(store))
  if (select.isPlanFile(target)) {
    const saved = planning.loadPlanFile(target)
    if (select.decideForPlanFile(open, saved, target, hints).action === 'resume') return undefined
    // A stale plan is refused by apply itself, with what changed.
    if (planning.planStaleness(saved, await readKeyspaceState(store, saved.plan.keyspace)).stale) return undefined
    return saved.plan.kind === 'noop' ? undefined : saved.plan
  }
  const layout = loadLayout(target)
  if (select.decideForLayout(open, layout, hints).action === 'resume') return undefined
  const p = planning.plan(await readKeyspaceState(store, layout.keyspace), layout)
  return p.kind === 'noop' ? undefined : p
}

export async function preflightBeforeApply(
  store: TopoStore,
  target: string | undefined,
  opts: PreflightGateOptions,
): Promise<void> {
  // A runtime installed in place of the data plane (tests' own executors) has no tablets to check.
  if (!target || !usesDataPlane()) return
  const plan = await newPlan(store, target, opts.hints)
  if (!plan) return
  const [{readKeyspaceState}, pre] = await Promise.all([
    import('../plan/keyspace-state.js'),
    import('../preflight/index.js'),
  ])
  const report = await pre.runPreflight(plan, await readKeyspaceState(store, plan.keyspace))
  const failed = pre.failedChecks(report)
  if (opts.json) process.stdout.write(JSON.stringify({type: 'preflight', ...report}) + '\n')
  else if (!failed.length) process.stdout.write(pre.renderPreflightText(report, opts.colors, {brief: true}) + '\n')
  if (!failed.length) return
  throw new ShardformError(`${failed.length} pre-flight check(s) failed; apply did not start and changed nothing.`, {
    code: 'preflight.failed',
    detail: pre.renderPreflightText(report, opts.colors, {brief: true}).trimEnd(),
    hint: `Fix them, then run: shardform apply ${target}${opts.hints.topo ? ` --topo ${opts.hints.topo}` : ''}`,
  })
}
