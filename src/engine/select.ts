// Which workflow does `apply` run? A new one from a layout or a saved plan, or the unfinished one it resumes.
// The decisions live here (decideForLayout, decideForPlanFile) so a later cancel/revert can extend them in one place.
import {readFileSync} from 'node:fs'
import type {Layout} from '../layout/types.js'
import {PLAN_FILE_KIND, type PlanFile} from '../plan/planfile.js'
import {isStartOf} from '../plan/revert.js'
import type {DesiredState} from '../plan/types.js'
import {workflowsPrefix} from '../topo/paths.js'
import type {TopoStore} from '../topo/store.js'
import {canonicalJSON} from '../util/canonical.js'
import {readWorkflowRecord, recordDamage} from './record.js'
import {isFinished, type WorkflowRecord} from './types.js'
import {currentPhase, EngineError, type CommandHints} from './workflow.js'

/** Every workflow record in the topology, oldest first. */
export async function listWorkflows(store: TopoStore, keyspace?: string): Promise<WorkflowRecord[]> {
  const entries = (await store.list(workflowsPrefix())).filter((e) => e.path.endsWith('/Workflow'))
  // A damaged record is not guessed at (its keyspace may be unknown): say which, and how to look at it.
  for (const e of entries) {
    const damage = recordDamage(e.value)
    if (damage)
      throw new EngineError(`the workflow record ${e.path} in ${store.url} is damaged: ${damage}; nothing was done.`, {
        code: 'engine.damaged_record',
        hint: `Look at it (etcdctl get --prefix <root>/${e.path}, or the file under the topology directory); if it is not a workflow of yours, remove it.`,
      })
  }
  return entries
    .map((e) => readWorkflowRecord(e.value))
    .filter((w) => !keyspace || w.keyspace === keyspace)
    .sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? '') || a.id.localeCompare(b.id))
}

export function unfinished(wfs: WorkflowRecord[], keyspace?: string): WorkflowRecord[] {
  return wfs.filter((w) => !isFinished(w) && (!keyspace || w.keyspace === keyspace))
}

/** One line naming a workflow: id, state, phase, what it applies. */
export function workflowLine(wf: WorkflowRecord): string {
  const ph = wf.currentPhase ?? currentPhase(wf)?.name
  return `${wf.id} (keyspace ${wf.keyspace}, ${wf.state}${ph ? `, phase ${ph}` : ''}, applying ${wf.plan?.desired?.file ?? wf.source?.file ?? '?'})`
}

/** The end state a layout asks for, in a form that ignores file names and shard-name spellings. */
function desiredKey(d: Pick<DesiredState, 'database' | 'vschema' | 'shards'>): string {
  const shards = [...d.shards]
    .map((s) => ({
      start: s.keyRange.start,
      end: s.keyRange.end,
      tablets: [...s.tablets].sort((a, b) => a.alias.localeCompare(b.alias)),
    }))
    .sort((a, b) => a.start.localeCompare(b.start))
  return canonicalJSON({database: d.database, vschema: d.vschema, shards})
}

/** Does the workflow make the keyspace look like `layout` (shards, vschema, database; not the file name)? */
export function sameDesired(wf: WorkflowRecord, layout: Layout): boolean {
  return desiredKey(wf.plan.desired) === desiredKey(layout)
}

export type Decision = {action: 'resume'; workflow: WorkflowRecord} | {action: 'new'}

function inProgressError(wf: WorkflowRecord, what: string, hints?: CommandHints): EngineError {
  const topo = hints?.topo ? ` --topo ${hints.topo}` : ''
  return new EngineError(
    `keyspace ${wf.keyspace} has an unfinished workflow ${workflowLine(wf)}, and ${what}. ` +
      `Finish that workflow first (shardform apply${topo} resumes it; see it with shardform status ${wf.keyspace}${topo}), then apply again.`,
  )
}

/** `apply <layout>`: resume the unfinished workflow heading to the same end state; refuse one heading elsewhere. */
export function decideForLayout(open: WorkflowRecord[], layout: Layout, hints?: CommandHints): Decision {
  const mine = open.filter((w) => w.keyspace === layout.keyspace)
  if (!mine.length) return {action: 'new'}
  const same = mine.find((w) => sameDesired(w, layout))
  if (same && mine.length === 1) return {action: 'resume', workflow: same}
  // The layout it started from: the planner reverts the workflow (cancel before its primary cutover, reverse after).
  if (mine.length === 1 && !same && isStartOf({...mine[0]!, layoutFile: mine[0]!.plan.desired.file}, layout))
    return {action: 'new'}
  const other = mine.find((w) => w !== same) ?? mine[0]!
  throw inProgressError(
    other,
    `${layout.file} asks for a different end state (shards, vschema or database differ)`,
    hints,
  )
}

/**
 * `apply <plan-file>`: resume the workflow made from this very plan, or start it (also when it reverts the unfinished
 * one); refuse while another one is unfinished.
 */
export function decideForPlanFile(
  open: WorkflowRecord[],
  saved: PlanFile,
  file: string,
  hints?: CommandHints,
): Decision {
  const mine = open.filter((w) => w.keyspace === saved.plan.keyspace)
  if (!mine.length) return {action: 'new'}
  const same = mine.find((w) => w.source?.checksum === saved.checksum)
  if (same && mine.length === 1) return {action: 'resume', workflow: same}
  // A saved revert of the one unfinished workflow (reviewed like any plan): it replaces that workflow.
  if (!same && mine.length === 1 && saved.plan.revert?.workflow === mine[0]!.id) return {action: 'new'}
  const other = mine.find((w) => w !== same) ?? mine[0]!
  throw inProgressError(other, `${file} is a different plan`, hints)
}

/** `apply` without an argument: the only unfinished workflow (or the one named). */
export function decideNoArg(open: WorkflowRecord[], storeUrl: string, workflowId?: string): WorkflowRecord {
  if (workflowId) {
    const wf = open.find((w) => w.id === workflowId)
    if (!wf) {
      throw new EngineError(
        `no unfinished workflow ${workflowId} in ${storeUrl}` +
          (open.length ? `; unfinished: ${open.map((w) => w.id).join(', ')}` : '') +
          '.',
      )
    }
    return wf
  }
  if (!open.length) {
    throw new EngineError(
      `nothing to resume: no unfinished workflow in ${storeUrl}. Give a layout or a saved plan: shardform apply <layout.yaml | plan-file>`,
    )
  }
  if (open.length > 1) {
    throw new EngineError(
      `several unfinished workflows in ${storeUrl}; name one with --workflow ID:\n` +
        open.map((w) => `  ${workflowLine(w)}`).join('\n'),
    )
  }
  return open[0]!
}

/** Is `file` a saved plan (JSON made by `plan --out`) rather than a layout? */
export function isPlanFile(file: string): boolean {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return false
  }
  if (!/^\s*\{/.test(text)) return false
  try {
    const v = JSON.parse(text) as {kind?: unknown}
    return v?.kind === PLAN_FILE_KIND
  } catch {
    return false
  }
}
