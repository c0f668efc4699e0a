// plan(topology, layout) → Plan. Pure: no I/O, no clock except the timestamp passed in.
import {
  checkCoverage,
  compareBytes,
  describeCoverageProblem,
  formatKeyRange,
  keyRangeFromJSON,
  keyRangesIntersect,
  sortShardNames,
  type KeyRange,
} from '../keyspace/keyrange.js'
import type {Layout, ShardSpec, TabletSpec} from '../layout/types.js'
import type {ShardRecord, TabletRecord, TabletType} from '../topo/records.js'
import {ETCD_DEFAULT_MAX_TXN_OPS} from '../topo/store.js'
import {canonicalJSON, deepEqual} from '../util/canonical.js'
import {pushTo} from '../util/multimap.js'
import {
  PHASES,
  PLAN_FORMAT_VERSION,
  type Change,
  type PhaseName,
  type Plan,
  type PlanPhase,
  type PlanTask,
  type ReshardGroup,
} from './types.js'
import {phasesOf, placeVSchema, summarize} from './assemble.js'
import {fingerprint, type KeyspaceState} from './keyspace-state.js'
import {PlanError} from './plan-error.js'
import {isStartOf, revertPlan} from './revert.js'
import {vschemaDiff} from './vschema-diff.js'
import {vschemaAfterCutover, vschemaRefusal} from './vschema-safety.js'
import {cloneSnapshotText, diffReadText, throttleText} from './source-reads.js'

// PlanError lives in plan-error.ts (revert.ts throws it too); importers of it from here keep working.
export {PlanError}

interface Named {
  name: string
  kr: KeyRange
}

export interface PlanOptions {
  /** ISO timestamp; defaults to now (tests pass a fixed one). */
  now?: string
}

export function plan(state: KeyspaceState | undefined, layout: Layout, opts: PlanOptions = {}): Plan {
  if (!state) {
    throw new PlanError(
      `keyspace "${layout.keyspace}" does not exist in the topology. Bootstrap it from the layout that describes it today: shardform topo init <layout>`,
    )
  }
  if (state.keyspace.name !== layout.keyspace) {
    throw new PlanError(
      `the topology holds keyspace "${state.keyspace.name}", but ${layout.file} declares "${layout.keyspace}"`,
    )
  }
  if (state.keyspace.database !== layout.database) {
    throw new PlanError(
      `${layout.file}: database "${layout.database}" differs from the keyspace's database "${state.keyspace.database}" in the topology; shardform cannot rename a database. Set database: ${state.keyspace.database}`,
    )
  }
  const gaps = checkCoverage(layout.shards.map((s) => s.name))
  if (gaps.length) {
    throw new PlanError(
      `${layout.file}: the shards do not cover the keyspace exactly: ${gaps.map(describeCoverageProblem).join('; ')}`,
    )
  }
  const wf = state.activeWorkflows[0]
  if (wf) {
    if (isStartOf(wf, layout)) return revertPlan(state, layout, wf, opts.now ?? new Date().toISOString())
    throw new PlanError(
      `keyspace "${layout.keyspace}" has a workflow in progress (${wf.id}, ${wf.state}${wf.phase ? `, phase ${wf.phase}` : ''}, applying ${wf.layoutFile || 'another layout'}). Resume it with \`shardform apply ${wf.layoutFile || ''}\`, revert it by applying the layout it started from, or see it with \`shardform status ${layout.keyspace}\`.`,
    )
  }
  const p = state.srvKeyspace.partitions
  if (!sameSet(p.primary, p.replica) || !sameSet(p.primary, p.rdonly)) {
    throw new PlanError(
      `keyspace "${layout.keyspace}" serves different shards per tablet type (primary: ${p.primary.join(',')}; replica: ${p.replica.join(',')}; rdonly: ${p.rdonly.join(',')}), so a reshard is half done; finish or revert it first (shardform status ${layout.keyspace})`,
    )
  }

  const ix = indexState(state)
  const current: Named[] = p.primary.map((name) => ({name, kr: shardRange(state, ix, name)}))
  const desired: Named[] = layout.shards.map((s) => ({name: s.name, kr: keyRangeFromJSON(s.keyRange)}))
  const byRange = new Map(current.map((c) => [formatKeyRange(c.kr), c.name]))
  const kept = new Map<string, string>() // desired name → current name (same key range)
  for (const d of desired) {
    const c = byRange.get(formatKeyRange(d.kr))
    if (c !== undefined) kept.set(d.name, c)
  }
  const keptCurrent = new Set(kept.values())
  const sources = current.filter((c) => !keptCurrent.has(c.name))
  const destinations = desired.filter((d) => !kept.has(d.name))
  const groups = groupOverlaps(sources, destinations)
  const vs = {current: state.keyspace.vschema, desired: layout.vschema, serving: p.primary, groups}
  const unsafe = vschemaRefusal({keyspace: layout.keyspace, file: layout.file, ...vs})
  if (unsafe) throw new PlanError(unsafe.summary, {code: 'plan.unsafe_vschema', ...unsafe})

  const changes: Change[] = []
  const notes: string[] = []
  const vsChanged = !deepEqual(state.keyspace.vschema, layout.vschema)
  const diffText = vsChanged ? vschemaDiff(state.keyspace.vschema, layout.vschema) : undefined
  if (vsChanged)
    changes.push({
      action: 'update',
      kind: 'vschema',
      name: layout.keyspace,
      detail: vschemaSummary(state.keyspace.vschema, layout.vschema),
    })

  const specByName = new Map(layout.shards.map((s) => [s.name, s]))
  checkTabletClashes(ix, layout, new Set(sources.map((s) => s.name)))
  for (const d of destinations) {
    const spec = specByName.get(d.name)!
    changes.push({
      action: 'create',
      kind: 'shard',
      name: d.name,
      shard: d.name,
      detail: `key range ${rangeText(d.kr)}; tablets ${spec.tablets.map(tabletText).join(', ')}`,
    })
  }
  for (const s of sources) {
    const tablets = ix.tabletsOf(s.name)
    changes.push({
      action: 'retire',
      kind: 'shard',
      name: s.name,
      shard: s.name,
      detail: `key range ${rangeText(s.kr)}; tablets ${tablets.map((t) => t.alias).join(', ') || 'none'} leave the topology, their data stays on the servers`,
    })
  }
  const tabletTasks: PlanTask[] = []
  for (const [desiredName, currentName] of kept) {
    const tc = tabletChanges(ix, specByName.get(desiredName)!, currentName)
    changes.push(...tc)
    if (tc.length)
      tabletTasks.push({
        id: `update_tablets/${currentName}`,
        shard: currentName,
        detail: tc.map((c) => `${c.action} ${c.name}`).join(', '),
      })
  }
  for (const type of ['rdonly', 'replica', 'primary'] as TabletType[]) {
    for (const g of groups) {
      changes.push({
        action: 'move',
        kind: 'traffic',
        name: `${type} ${g.range}`,
        tabletType: type,
        from: g.sources,
        to: g.destinations,
        detail: `${type}: ${g.sources.join(', ')} → ${g.destinations.join(', ')}`,
      })
    }
  }

  const vsLate = vsChanged && vschemaAfterCutover(state.keyspace.vschema, layout.vschema, p.primary)
  const phases = buildPhases(layout, groups, vsChanged && {late: vsLate}, tabletTasks, ix)
  if (groups.length) {
    notes.push(
      'The application keeps writing during the copy; writes pause only inside migrate_primary (sources read-only until the destinations have caught up, at most the cutover timeout, then undone).',
    )
    notes.push(
      'A destination tablet whose tables hold rows left by a shard shardform retired earlier is emptied before the copy; any other data in a destination stops copy_schema with an error.',
    )
  }
  // Moving a group's traffic is one topology transaction: its SrvKeyspace, each of its shards, the workflow record.
  const widest = groups.reduce((n, g) => Math.max(n, g.sources.length + g.destinations.length), 0)
  if (widest + 2 > ETCD_DEFAULT_MAX_TXN_OPS)
    notes.push(
      `Each traffic move of the widest group (${widest} shards) writes ${widest + 2} topology records in one transaction: on etcd, raise --max-txn-ops (default ${ETCD_DEFAULT_MAX_TXN_OPS}) on every member before the cutover, or split in smaller steps.`,
    )
  const kind = groups.length ? 'reshard' : changes.length ? 'update' : 'noop'
  // Applying the layout a finished reshard started from: nothing of it can be undone in place any more.
  const last = state.lastFinished
  const revertOfFinished =
    kind === 'reshard' && last?.state === 'done' && last.plan?.kind === 'reshard' && isStartOf(last, layout)
  if (revertOfFinished) {
    notes.unshift(
      `Workflow ${last.id} (applying ${last.layoutFile}) finished and retired its sources, so it cannot be cancelled or reversed in place: going back is this ordinary reshard.`,
    )
  }
  return {
    format_version: PLAN_FORMAT_VERSION,
    keyspace: layout.keyspace,
    kind,
    created_at: opts.now ?? new Date().toISOString(),
    fingerprint: fingerprint(state),
    current: {
      shards: current.map((c) => ({
        name: c.name,
        keyRange: json(c.kr),
        servedTypes: ix.shards.get(c.name)?.servedTypes ?? [],
      })),
      vschema: state.keyspace.vschema,
    },
    desired: {
      file: layout.file,
      database: layout.database,
      vschema: layout.vschema,
      approvals: layout.approvals,
      settings: layout.settings,
      shards: layout.shards.map((s) => ({...s, name: kept.get(s.name) ?? s.name})),
    },
    groups,
    changes,
    ...(diffText ? {vschemaDiff: diffText} : {}),
    phases,
    ...(revertOfFinished
      ? {
          revert: {
            workflow: last.id,
            layout: last.layoutFile,
            stage: 'finished: its sources were retired',
            reason: 'nothing left to cancel or reverse; an ordinary reshard goes back',
            cancelled: [],
            reversed: [],
          },
        }
      : {}),
    summary: summarize(changes, phases),
    notes,
  }
}

function buildPhases(
  layout: Layout,
  groups: ReshardGroup[],
  vschema: false | {late: boolean},
  tabletTasks: PlanTask[],
  ix: StateIndex,
): PlanPhase[] {
  const tasks = new Map<PhaseName, PlanTask[]>()
  const add = (phase: PhaseName, t: PlanTask) => pushTo(tasks, phase, t)
  if (vschema)
    add('apply_vschema', {
      id: 'apply_vschema',
      shard: layout.keyspace,
      detail: vschema.late
        ? `store the vschema of ${layout.file} for keyspace ${layout.keyspace} once one shard serves everything (until then the router needs the vschema the rows were placed by)`
        : `store the vschema of ${layout.file} for keyspace ${layout.keyspace}`,
    })
  for (const t of tabletTasks) add('update_tablets', t)

  const destOrder = groups.flatMap((g, gi) => g.destinations.map((d) => ({d, gi})))
  const srcOrder = groups.flatMap((g, gi) => g.sources.map((s) => ({s, gi})))
  const specs = new Map(layout.shards.map((s) => [s.name, s]))
  const spec = (name: string) => specs.get(name) as ShardSpec
  const firstSource = (gi: number) => groups[gi].sources[0]
  const deferKeys = layout.settings.deferSecondaryKeys
  for (const {d, gi} of destOrder) {
    const primary = spec(d).tablets.find((t) => t.type === 'primary')!
    add('create_shards', {
      id: `create_shards/${d}`,
      shard: d,
      group: gi,
      detail: `shard record ${d} (not serving), ${spec(d).tablets.length} tablets, primary ${primary.alias}`,
    })
    add('copy_schema', {
      id: `copy_schema/${d}`,
      shard: d,
      group: gi,
      detail: `tables and views of ${firstSource(gi)} → ${primary.alias} (${layout.database})${deferKeys ? ', tables without their secondary keys (deferSecondaryKeys: added after the copy)' : ''}`,
    })
  }
  // clone and diff pause while a source replica they do not read lags more than this (source-reads.ts).
  const limit = layout.settings.throttleReplicaLagSeconds
  const throttled = (shards: string[]) => throttleText(shards.map(ix.tabletsOf), limit)
  for (const {s, gi} of srcOrder) {
    const how = cloneSnapshotText(ix.tabletsOf(s))
    add('clone', {
      id: `clone/${s}`,
      shard: s,
      group: gi,
      detail: `${how}; rows routed to ${groups[gi].destinations.join(', ')}${throttled([s])}; then filtered replication from the source primary`,
    })
  }
  for (const {d, gi} of destOrder) {
    add('wait_for_filtered_replication', {
      id: `wait_for_filtered_replication/${d}`,
      shard: d,
      group: gi,
      detail: `${deferKeys ? 'add the deferred secondary keys (one ALTER TABLE per table, once every clone of the group is done); then ' : ''}until lag ≤ ${layout.settings.maxReplicationLagSeconds}s from ${groups[gi].sources.join(', ')}`,
    })
  }
  const readOn = (s: string) => diffReadText(s, ix.tabletsOf(s))
  for (const {d, gi} of destOrder) {
    add('diff', {
      id: `diff/${d}`,
      shard: d,
      group: gi,
      detail: `schema and rows of ${d} against ${groups[gi].sources.map(readOn).join(', ')} restricted to ${d}${throttled(groups[gi].sources)}`,
    })
  }
  for (const type of ['rdonly', 'replica', 'primary'] as const) {
    groups.forEach((g, gi) => {
      const detail =
        type === 'primary'
          ? `sources ${g.sources.join(', ')} read-only; wait (≤ ${layout.settings.cutoverTimeoutSeconds}s) for ${g.destinations.join(', ')} to catch up; switch primary traffic; destinations writable`
          : `SrvKeyspace ${type}: ${g.sources.join(', ')} → ${g.destinations.join(', ')}`
      add(`migrate_${type}`, {id: `migrate_${type}/${g.range}`, shard: g.range, group: gi, detail})
    })
  }
  for (const {s, gi} of srcOrder) {
    const aliases = ix.tabletsOf(s).map((t) => t.alias)
    add('retire_sources', {
      id: `retire_sources/${s}`,
      shard: s,
      group: gi,
      detail: `remove shard ${s} and tablets ${aliases.join(', ') || '(none)'} from the topology`,
    })
  }
  return phasesOf(vschema && vschema.late ? placeVSchema(PHASES, 'after_cutover') : PHASES, tasks, layout)
}

/**
 * Connected components of the "key ranges overlap" relation between sources and destinations. Each side is a set of
 * disjoint ranges, so one sweep over both sorted by start finds every overlapping pair: O(n log n), not O(n·m).
 */
function groupOverlaps(sources: Named[], destinations: Named[]): ReshardGroup[] {
  const byStart = (a: Named, b: Named) => compareBytes(a.kr.start, b.kr.start)
  const src = [...sources].sort(byStart)
  const dst = [...destinations].sort(byStart)
  const all = [...src.map((x) => ({...x, src: true})), ...dst.map((x) => ({...x, src: false}))]
  const parent = all.map((_, i) => i)
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])))
  const endsFirst = (a: KeyRange, b: KeyRange) =>
    a.end.length !== 0 && (b.end.length === 0 || compareBytes(a.end, b.end) <= 0)
  for (let i = 0, j = 0; i < src.length && j < dst.length;) {
    if (keyRangesIntersect(src[i].kr, dst[j].kr)) parent[find(i)] = find(src.length + j)
    if (endsFirst(src[i].kr, dst[j].kr)) i++
    else j++
  }
  const comps = new Map<number, typeof all>()
  all.forEach((x, i) => pushTo(comps, find(i), x))
  const groups = [...comps.values()].map((members) => {
    const start = members.reduce((m, x) => (compareBytes(x.kr.start, m) < 0 ? x.kr.start : m), members[0].kr.start)
    const unbounded = members.some((x) => x.kr.end.length === 0)
    const end = unbounded
      ? Buffer.alloc(0)
      : members.reduce((m, x) => (compareBytes(x.kr.end, m) > 0 ? x.kr.end : m), members[0].kr.end)
    return {
      start,
      range: shardNameOf({start, end}),
      sources: sortShardNames(members.filter((x) => x.src).map((x) => x.name)),
      destinations: sortShardNames(members.filter((x) => !x.src).map((x) => x.name)),
    }
  })
  for (const g of groups) {
    if (!g.sources.length || !g.destinations.length) {
      // Both sides cover the keyspace exactly, so this only happens with a corrupt topology.
      throw new PlanError(
        `cannot pair shards ${[...g.sources, ...g.destinations].join(', ')} with anything on the other side; the serving shards in the topology do not cover the keyspace exactly`,
      )
    }
  }
  return groups
    .sort((a, b) => compareBytes(a.start, b.start))
    .map(({range, sources, destinations}) => ({range, sources, destinations}))
}

/** Lookups the planner makes once per shard or tablet, built once. */
interface StateIndex {
  shards: Map<string, ShardRecord>
  tabletsOf(shard: string): TabletRecord[]
  byAlias: Map<string, TabletRecord>
  byEndpoint: Map<string, TabletRecord>
}

function indexState(state: KeyspaceState): StateIndex {
  const byShard = new Map<string, TabletRecord[]>()
  for (const t of state.tablets) pushTo(byShard, t.shard, t)
  return {
    shards: new Map(state.shards.map((s) => [s.name, s])),
    tabletsOf: (shard) => byShard.get(shard) ?? [],
    byAlias: new Map(state.allTablets.map((t) => [t.alias, t])),
    byEndpoint: new Map(state.allTablets.map((t) => [`${t.host}:${t.port}`, t])),
  }
}

function shardNameOf(kr: KeyRange): string {
  return kr.start.length === 0 && kr.end.length === 0 ? '0' : formatKeyRange(kr)
}

function shardRange(state: KeyspaceState, ix: StateIndex, name: string): KeyRange {
  const rec = ix.shards.get(name)
  if (!rec)
    throw new PlanError(
      `SrvKeyspace of "${state.keyspace.name}" serves shard "${name}", which has no shard record; the topology is inconsistent`,
    )
  return keyRangeFromJSON(rec.keyRange)
}

function tabletChanges(ix: StateIndex, spec: ShardSpec, currentName: string): Change[] {
  const have = ix.tabletsOf(currentName)
  const out: Change[] = []
  for (const t of spec.tablets) {
    const cur = have.find((h) => h.alias === t.alias)
    if (!cur) {
      if (t.type === 'primary') throw reparentError(spec.name, have.find((h) => h.type === 'primary')?.alias, t.alias)
      out.push({
        action: 'create',
        kind: 'tablet',
        name: t.alias,
        shard: currentName,
        detail: `${tabletText(t)} in shard ${currentName}`,
      })
      continue
    }
    if ((cur.type === 'primary') !== (t.type === 'primary')) {
      throw reparentError(
        spec.name,
        have.find((h) => h.type === 'primary')?.alias,
        spec.tablets.find((x) => x.type === 'primary')!.alias,
      )
    }
    const diffs = (['type', 'host', 'port', 'user', 'passwordEnv', 'adminUser', 'adminPasswordEnv'] as const)
      .filter((k) => (cur[k] ?? '') !== (t[k] ?? ''))
      .map((k) => `${k}: ${cur[k] ?? '-'} → ${t[k] ?? '-'}`)
    // TLS settings (file paths) are part of the record: a change of them alone is an update too.
    const tlsText = (v: unknown) => (v === undefined ? '-' : canonicalJSON(v))
    if (tlsText(cur.tls) !== tlsText(t.tls)) diffs.push(`tls: ${tlsText(cur.tls)} → ${tlsText(t.tls)}`)
    if (diffs.length)
      out.push({action: 'update', kind: 'tablet', name: t.alias, shard: currentName, detail: diffs.join(', ')})
  }
  for (const h of have) {
    if (!spec.tablets.some((t) => t.alias === h.alias)) {
      if (h.type === 'primary')
        throw reparentError(spec.name, h.alias, spec.tablets.find((x) => x.type === 'primary')!.alias)
      out.push({
        action: 'retire',
        kind: 'tablet',
        name: h.alias,
        shard: currentName,
        detail: `${h.type} ${h.host}:${h.port} leaves shard ${currentName} (the server is left alone)`,
      })
    }
  }
  return out
}

function reparentError(shard: string, from: string | undefined, to: string): PlanError {
  return new PlanError(
    `shard "${shard}" keeps its key range but its primary changes (${from ?? 'none'} → ${to}); that is a reparent, which shardform does not do. Keep ${from ?? 'the current primary'} as the primary in the layout.`,
  )
}

/** New tablets must not take an alias or host:port that another registered tablet still holds. */
function checkTabletClashes(ix: StateIndex, layout: Layout, retiring: Set<string>): void {
  for (const shard of layout.shards) {
    for (const t of shard.tablets) {
      const same = ix.byAlias.get(t.alias)
      if (same && !(same.keyspace === layout.keyspace && same.shard === shard.name)) {
        const where =
          same.keyspace === layout.keyspace
            ? `shard "${same.shard}"`
            : `keyspace "${same.keyspace}", shard "${same.shard}"`
        const after = retiring.has(same.shard)
          ? ' until that shard is retired; give the new tablet another alias'
          : '; give the new tablet another alias'
        throw new PlanError(
          `${layout.file}: tablet alias "${t.alias}" (shard "${shard.name}") is registered in ${where}${after}`,
        )
      }
      const ep = ix.byEndpoint.get(`${t.host}:${t.port}`)
      if (ep && ep.alias !== t.alias)
        throw new PlanError(
          `${layout.file}: tablet "${t.alias}" uses ${t.host}:${t.port}, which tablet "${ep.alias}" (keyspace "${ep.keyspace}", shard "${ep.shard}") already uses`,
        )
    }
  }
}

function tabletText(t: TabletSpec | TabletRecord): string {
  return `${t.alias} (${t.type} ${t.host}:${t.port})`
}

function rangeText(kr: KeyRange): string {
  const s = kr.start.length ? kr.start.toString('hex') : 'min'
  const e = kr.end.length ? kr.end.toString('hex') : 'max'
  return `[${s}, ${e})`
}

function json(kr: KeyRange) {
  return {start: kr.start.toString('hex'), end: kr.end.toString('hex')}
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x))
}

function vschemaSummary(from: {sharded: boolean}, to: {sharded: boolean}): string {
  return from.sharded === to.sharded
    ? 'vschema changes (see the diff)'
    : `vschema becomes ${to.sharded ? 'sharded' : 'unsharded'}`
}
