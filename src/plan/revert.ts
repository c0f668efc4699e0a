// Reverting a layout while its workflow is unfinished: the Terraform way to undo is to apply the previous layout.
// Per reshard group of that workflow: before its primary cutover, cancel (move read traffic back, drop the new
// shards); after it and before its sources are retired, reverse (reverse streams are running: diff, then move
// rdonly, replica and primary traffic back, then retire the new shards).
import {keyRangeEqual, keyRangeFromJSON} from '../keyspace/keyrange.js'
import type {Layout} from '../layout/types.js'
import type {TabletType} from '../topo/records.js'
import {deepEqual} from '../util/canonical.js'
import {pushTo} from '../util/multimap.js'
import {phasesOf, placeVSchema, summarize} from './assemble.js'
import {fingerprint, type ActiveWorkflow, type KeyspaceState} from './keyspace-state.js'
import {PlanError} from './plan-error.js'
import {
  PLAN_FORMAT_VERSION,
  REVERT_PHASES,
  type Change,
  type Plan,
  type PlanTask,
  type PhaseName,
  type ReshardGroup,
} from './types.js'
import {vschemaDiff} from './vschema-diff.js'
import {placementChanges} from './vschema-safety.js'

export interface RevertInfo {
  /** The unfinished workflow being reverted. */
  workflow: string
  /** The layout it was applying. */
  layout: string
  /** Where it stood, in words. */
  stage: string
  /** Why this plan does what it does. */
  reason: string
  cancelled: string[]
  reversed: string[]
}

/** Does `layout` describe the keyspace as it was before `wf` began (same shards and vschema)? */
export function isStartOf(wf: ActiveWorkflow, layout: Layout): boolean {
  const cur = wf.plan?.current
  if (!cur) return false
  const same = (
    a: Array<{keyRange: {start: string; end: string}}>,
    b: Array<{keyRange: {start: string; end: string}}>,
  ) =>
    a.length === b.length &&
    a.every((x) => b.some((y) => keyRangeEqual(keyRangeFromJSON(x.keyRange), keyRangeFromJSON(y.keyRange))))
  return same(cur.shards, layout.shards) && deepEqual(cur.vschema, layout.vschema)
}

export function revertPlan(state: KeyspaceState, layout: Layout, wf: ActiveWorkflow, now: string): Plan {
  const wplan = wf.plan!
  const tasks = wf.tasks ?? {}
  const done = (id: string) => tasks[id]?.state === 'done'
  const touched = (id: string) => (tasks[id]?.attempts ?? 0) > 0 || tasks[id]?.state === 'running'
  const groups: ReshardGroup[] = []
  const phaseTasks = new Map<PhaseName, PlanTask[]>()
  const add = (phase: PhaseName, t: PlanTask) => pushTo(phaseTasks, phase, t)
  const changes: Change[] = []
  const cancelled: string[] = []
  const reversed: string[] = []

  for (const g of wplan.groups) {
    if (g.sources.some((s) => done(`retire_sources/${s}`) || touched(`retire_sources/${s}`))) {
      throw new PlanError(
        `workflow ${wf.id} is already retiring ${g.sources.join(', ')}, so it can no longer be reverted. Let it finish (shardform apply), then apply ${layout.file} again: that will be an ordinary reshard back.`,
      )
    }
    const gi = groups.length
    if (done(`migrate_primary/${g.range}`)) {
      // Reverse: the new shards serve; the old ones are kept current by reverse replication.
      groups.push({range: g.range, sources: g.destinations, destinations: g.sources, mode: 'reverse'})
      reversed.push(g.range)
      for (const d of g.sources) {
        add('wait_for_filtered_replication', {
          id: `wait_for_filtered_replication/${d}`,
          shard: d,
          group: gi,
          detail: `until reverse replication from ${g.destinations.join(', ')} lags ≤ ${layout.settings.maxReplicationLagSeconds}s`,
        })
        add('diff', {
          id: `diff/${d}`,
          shard: d,
          group: gi,
          detail: `rows of ${d} against ${g.destinations.join(', ')} restricted to ${d}`,
        })
      }
      for (const type of ['rdonly', 'replica', 'primary'] as const) {
        const detail =
          type === 'primary'
            ? `${g.destinations.join(', ')} read-only; wait (≤ ${layout.settings.cutoverTimeoutSeconds}s) for ${g.sources.join(', ')} to catch up; primary traffic back; ${g.sources.join(', ')} writable`
            : `SrvKeyspace ${type}: ${g.destinations.join(', ')} → ${g.sources.join(', ')}`
        add(`migrate_${type}`, {id: `migrate_${type}/${g.range}`, shard: g.range, group: gi, detail})
        changes.push(trafficBack(type, g))
      }
      for (const d of g.destinations) {
        add('retire_sources', {
          id: `retire_sources/${d}`,
          shard: d,
          group: gi,
          detail: `remove shard ${d} and its tablets from the topology (data stays on the servers)`,
        })
        changes.push({
          action: 'retire',
          kind: 'shard',
          name: d,
          shard: d,
          detail: `served since ${wf.id} moved traffic to it; its data stays on the servers`,
        })
      }
      continue
    }
    // Cancel: the sources never stopped serving primary traffic.
    groups.push({range: g.range, sources: g.sources, destinations: g.destinations, mode: 'cancel'})
    cancelled.push(g.range)
    for (const type of ['replica', 'rdonly'] as const) {
      if (!done(`migrate_${type}/${g.range}`)) continue
      add(`cancel_migrate_${type}`, {
        id: `cancel_migrate_${type}/${g.range}`,
        shard: g.range,
        group: gi,
        detail: `SrvKeyspace ${type}: ${g.destinations.join(', ')} → ${g.sources.join(', ')}`,
      })
      changes.push(trafficBack(type, g))
    }
    const created = g.destinations.filter((d) => done(`create_shards/${d}`) || state.shards.some((s) => s.name === d))
    add('stop_filtered_replication', {
      id: `stop_filtered_replication/${g.range}`,
      shard: g.range,
      group: gi,
      detail: `forget the streams ${g.sources.join(', ')} → ${g.destinations.join(', ')}; make sure ${g.sources.join(', ')} take writes`,
    })
    for (const d of created) {
      add('delete_shards', {
        id: `delete_shards/${d}`,
        shard: d,
        group: gi,
        detail: `remove shard ${d} and its tablets from the topology (data left on the servers)`,
      })
      changes.push({
        action: 'retire',
        kind: 'shard',
        name: d,
        shard: d,
        detail: 'never served primary traffic; its data stays on the servers',
      })
    }
  }

  const vsChanged = !deepEqual(state.keyspace.vschema, layout.vschema)
  // Going back from one serving shard to several (the revert of a merge): the router needs the old vschema before the
  // first traffic move, not once all traffic is back (vschemaAfterCutover).
  const p = state.srvKeyspace.partitions
  const vsFirst =
    vsChanged &&
    layout.shards.length > 1 &&
    Math.max(p.primary.length, p.replica.length, p.rdonly.length) <= 1 &&
    placementChanges(state.keyspace.vschema, layout.vschema)
  if (vsChanged) {
    add('apply_vschema', {
      id: 'apply_vschema',
      shard: layout.keyspace,
      detail: vsFirst
        ? `store the vschema of ${layout.file} again, before any traffic moves back to several shards`
        : `store the vschema of ${layout.file} again, once all traffic is back`,
    })
    changes.unshift({
      action: 'update',
      kind: 'vschema',
      name: layout.keyspace,
      detail: `back to the vschema of ${layout.file}`,
    })
  }

  const phases = phasesOf(vsFirst ? placeVSchema(REVERT_PHASES, 'first') : REVERT_PHASES, phaseTasks, layout)
  const stage = stageText(wf, cancelled, reversed)
  const reason = [
    cancelled.length
      ? `group ${cancelled.join(', ')} never moved primary traffic, so it is cancelled: read traffic goes back, the new shards leave the topology, the sources never stopped taking writes`
      : '',
    reversed.length
      ? `group ${reversed.join(', ')} already moved primary traffic, so it is reversed: reverse replication kept the old shards current; after a diff, rdonly, replica and primary traffic move back with the same freeze and timeout rules, then the new shards are retired`
      : '',
  ]
    .filter(Boolean)
    .join('; ')
  const revert: RevertInfo = {workflow: wf.id, layout: wf.layoutFile, stage, reason, cancelled, reversed}
  const serving = state.srvKeyspace.partitions.primary
  return {
    format_version: PLAN_FORMAT_VERSION,
    keyspace: layout.keyspace,
    kind: 'revert',
    created_at: now,
    fingerprint: fingerprint(state),
    current: {
      shards: serving.map((name) => {
        const s = state.shards.find((x) => x.name === name)!
        return {name, keyRange: s.keyRange, servedTypes: s.servedTypes}
      }),
      vschema: state.keyspace.vschema,
    },
    desired: {
      file: layout.file,
      database: layout.database,
      vschema: layout.vschema,
      approvals: layout.approvals,
      settings: layout.settings,
      shards: layout.shards,
    },
    groups,
    changes,
    ...(vsChanged ? {vschemaDiff: vschemaDiff(state.keyspace.vschema, layout.vschema)} : {}),
    phases,
    summary: summarize(changes, phases),
    notes: [
      `Reverts workflow ${wf.id} (${stage}): ${reason}.`,
      `Workflow ${wf.id} is closed as cancelled when this plan is applied.`,
    ],
    revert,
  }
}

function stageText(wf: ActiveWorkflow, cancelled: string[], reversed: string[]): string {
  const ph = wf.phase ? `at phase ${wf.phase}` : 'not started'
  if (!reversed.length) return `${ph}, before the primary cutover`
  if (!cancelled.length) return `${ph}, after the primary cutover and before the sources were retired`
  return `${ph}, primary cutover done for ${reversed.join(', ')} only`
}

/** The change a revert records when it moves one tablet type's traffic of a group back to its sources. */
function trafficBack(type: TabletType, g: {range: string; sources: string[]; destinations: string[]}): Change {
  return {
    action: 'move',
    kind: 'traffic',
    name: `${type} ${g.range}`,
    tabletType: type,
    from: g.destinations,
    to: g.sources,
    detail: `${type}: ${g.destinations.join(', ')} → ${g.sources.join(', ')} (back)`,
  }
}
