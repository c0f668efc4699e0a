// Which tablets a plan touches, and in which role: what the pre-flight checks connect to.
import type {Plan} from '../plan/types.js'
import {tabletRecord} from '../layout/records.js'
import type {TabletRecord} from '../topo/records.js'
import type {KeyspaceState} from '../plan/keyspace-state.js'

export type Side = 'source' | 'destination' | 'other'

export interface Target {
  tablet: TabletRecord
  side: Side
  primary: boolean
  /** The group's first source shard: where copy_schema takes the schema a destination must match. */
  schemaFrom?: string
}

/**
 * Sources come from the topology (what apply will connect to), destinations from the plan's desired shards (they are
 * registered only by create_shards). A plan that is not a reshard (update, revert) has only `other` tablets: every
 * tablet it names, current or desired.
 */
export function planTargets(plan: Plan, state: KeyspaceState | undefined): Target[] {
  const out = new Map<string, Target>()
  const add = (t: TabletRecord, side: Side, schemaFrom?: string) => {
    if (!out.has(t.alias))
      out.set(t.alias, {tablet: t, side, primary: t.type === 'primary', ...(schemaFrom ? {schemaFrom} : {})})
  }
  const desired = (shard: string) =>
    (plan.desired.shards.find((s) => s.name === shard)?.tablets ?? []).map((t) =>
      tabletRecord(t, plan.keyspace, shard, plan.desired.database),
    )
  const current = (shard: string) => (state?.tablets ?? []).filter((t) => t.shard === shard)
  if (plan.kind === 'reshard') {
    for (const g of plan.groups) {
      for (const s of g.sources) for (const t of current(s)) add(t, 'source')
      for (const d of g.destinations) for (const t of desired(d)) add(t, 'destination', g.sources[0])
    }
  } else {
    for (const s of plan.current.shards) for (const t of current(s.name)) add(t, 'other')
    for (const s of plan.desired.shards) for (const t of desired(s.name)) add(t, 'other')
  }
  return [...out.values()].sort((a, b) => a.tablet.alias.localeCompare(b.tablet.alias))
}
