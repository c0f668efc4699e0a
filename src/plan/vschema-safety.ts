// Safety rails: a vschema change that would move existing rows to another shard, while the keyspace serves more than
// one shard, is refused unless the same plan re-routes every existing row with the new vschema. Pure.
import type {ColumnVindex, VSchema} from '../keyspace/vschema.js'
import {canonicalJSON} from '../util/canonical.js'
import type {ReshardGroup} from './types.js'

/** Why a change is refused; the planner throws it as a PlanError with code `plan.unsafe_vschema`. */
export interface Refusal {
  summary: string
  detail: string
  hint: string
}

export interface SafetyInput {
  keyspace: string
  file: string
  current: VSchema
  desired: VSchema
  /** The shards serving primary traffic now (where the rows are). */
  serving: string[]
  /** The plan's reshard groups (empty: no reshard). */
  groups: ReshardGroup[]
}

/** What decides the shard of a row of one table, as comparable text; equal placements keep every row in place. */
export function placementOf(vs: VSchema, table: string): string {
  if (!vs.sharded) return 'unsharded (every row on the single shard)'
  const def = vs.tables && Object.hasOwn(vs.tables, table) ? vs.tables[table] : undefined
  if (!def) return 'absent'
  if (def.type === 'reference') return 'reference (a copy on every shard)'
  if (def.type === 'sequence') return 'sequence table'
  const cv: ColumnVindex | undefined = def.column_vindexes?.[0]
  if (!cv) return 'no primary vindex'
  const cols = cv.column !== undefined ? [cv.column] : (cv.columns ?? [])
  const vdef = vs.vindexes && Object.hasOwn(vs.vindexes, cv.name) ? vs.vindexes[cv.name] : undefined
  // The vindex's name does not place rows; its type and params do (renaming a vindex is harmless).
  const how = vdef
    ? `${vdef.type}${vdef.params && Object.keys(vdef.params).length ? ` ${canonicalJSON(vdef.params)}` : ''}`
    : `undeclared vindex "${cv.name}"`
  return `${how} of ${cols.join(', ') || '(no column)'}`
}

/** Tables whose existing rows would belong to another shard under `desired`: [table, before, after]. */
export function movedTables(current: VSchema, desired: VSchema): Array<[string, string, string]> {
  const names = Object.keys(current.tables ?? {})
  // An unsharded vschema need not list its tables; when it becomes sharded, every desired table had its rows on the
  // single shard before.
  if (!current.sharded) for (const t of Object.keys(desired.tables ?? {})) if (!names.includes(t)) names.push(t)
  const out: Array<[string, string, string]> = []
  for (const t of names.sort()) {
    const before = placementOf(current, t)
    const after = placementOf(desired, t)
    // A table leaving the vschema is not re-placed (the router stops routing it; its rows stay where they are).
    if (after === 'absent' || before === after) continue
    out.push([t, before, after])
  }
  return out
}

/** True when the plan copies every existing row again, routed by the new vschema: one group whose sources are all
 * the serving shards (the clone and the filtered replication route with the desired vschema, src/phases/routing.ts). */
export function rerouteAll(serving: string[], groups: ReshardGroup[]): boolean {
  return groups.length === 1 && serving.every((s) => groups[0].sources.includes(s))
}

/** Would `desired` put some existing row on another shard than `current` does? */
export function placementChanges(current: VSchema, desired: VSchema): boolean {
  return current.sharded !== desired.sharded || movedTables(current, desired).length > 0
}

/**
 * Must the new vschema wait until primary traffic has moved? The router routes every tablet type by the keyspace's one
 * vschema. While several shards serve, it must be the vschema their rows were placed by; with one shard serving, any
 * vschema sends everything to it. So a placement change is stored before the first traffic move when at most one
 * shard serves now (a split), and after the primary cutover otherwise (a merge into one shard, the only such plan
 * vschemaRefusal lets through).
 */
export function vschemaAfterCutover(current: VSchema, desired: VSchema, serving: string[]): boolean {
  return serving.length > 1 && placementChanges(current, desired)
}

/** Why the plan's data movement does not make the change safe. */
function whyNotMoved(serving: string[], groups: ReshardGroup[]): string {
  if (!groups.length) return 'This plan moves no data.'
  if (rerouteAll(serving, groups))
    return `This plan copies every row again, but into ${groups[0].destinations.length} shards: until the primary cutover, part of the traffic would still go to the old shards, and the router has one vschema for both (Vitess changes a primary vindex by moving the tables to another keyspace).`
  const sources = new Set(groups.flatMap((g) => g.sources))
  const kept = serving.filter((s) => !sources.has(s))
  return kept.length
    ? `This plan's reshard leaves the rows of ${kept.join(', ')} where they are.`
    : `This plan's reshard has ${groups.length} groups, and each copies rows only among its own destinations.`
}

export function vschemaRefusal(input: SafetyInput): Refusal | undefined {
  const {keyspace, file, current, desired, serving, groups} = input
  if (serving.length <= 1) return undefined // all rows live on the one shard whatever the vschema says
  const shardingFlips = current.sharded !== desired.sharded
  const moved = movedTables(current, desired)
  if (!shardingFlips && !moved.length) return undefined
  // The copy and filtered replication route every row by the new vschema (src/phases/routing.ts); into one shard, the
  // router needs no vschema that matches the rows, so the new one is stored after the cutover.
  if (rerouteAll(serving, groups) && groups[0].destinations.length === 1) return undefined
  const why = shardingFlips
    ? `the vschema becomes ${desired.sharded ? 'sharded' : 'unsharded'}`
    : moved.map(([t, b, a]) => `table "${t}": primary vindex ${b} → ${a}`).join('; ')
  const tables = moved.length ? moved.map(([t]) => `"${t}"`).join(', ') : 'every table'
  return {
    summary: `${file}: refusing a vschema change that moves existing rows of ${tables} to other shards of keyspace "${keyspace}" (${why})`,
    detail: `Keyspace "${keyspace}" holds data on ${serving.length} shards (${serving.join(', ')}); after this change the router would look for existing rows on the shard the new vschema names, not where they are. ${whyNotMoved(serving, groups)}`,
    hint: `Keep the current vschema of ${tables} in ${file}, or do it in two plans: merge every serving shard (${serving.join(', ')}) into one shard with the new vschema (stored after the cutover), then split again with it.`,
  }
}
