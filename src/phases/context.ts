// What every executor asks of the plan and the topology: its group, the shards' tablets, the key ranges.
import {ShardformError, type ErrorParts} from '../errors.js'
import {keyRangeFromJSON} from '../keyspace/keyrange.js'
import type {TaskContext} from '../engine/types.js'
import type {ReshardGroup} from '../plan/types.js'
import type {TabletRecord, TabletType} from '../topo/records.js'
import {readKeyspaceState, type KeyspaceState} from '../plan/keyspace-state.js'
import type {ShardRange} from './routing.js'

export class PhaseError extends ShardformError {
  override name = 'PhaseError'
  constructor(summary: string, parts: ErrorParts = {}) {
    super(summary, {code: 'phase', ...parts})
  }
}

export function groupOf(ctx: TaskContext): ReshardGroup {
  const g = ctx.task.group
  if (g === undefined || !ctx.plan.groups[g])
    throw new PhaseError(`task ${ctx.task.id} does not belong to a reshard group of the plan`)
  return ctx.plan.groups[g]
}

export async function keyspaceState(ctx: TaskContext): Promise<KeyspaceState> {
  const st = await readKeyspaceState(ctx.store, ctx.keyspace)
  if (!st) throw new PhaseError(`keyspace ${ctx.keyspace} is no longer in the topology`)
  return st
}

export function tabletOf(state: KeyspaceState, shard: string, type: TabletType): TabletRecord | undefined {
  return state.tablets.find((t) => t.shard === shard && t.type === type)
}

export function primaryOf(state: KeyspaceState, shard: string): TabletRecord {
  const rec = state.shards.find((s) => s.name === shard)
  const t = state.tablets.find((x) => x.alias === rec?.primary) ?? tabletOf(state, shard, 'primary')
  if (!t) throw new PhaseError(`shard ${shard} of ${state.keyspace.name} has no primary tablet in the topology`)
  return t
}

/** Key range of a shard as the plan knows it (destinations from the layout, sources from the topology). */
export function shardRange(ctx: TaskContext, shard: string): ShardRange {
  const d = ctx.plan.desired.shards.find((s) => s.name === shard)
  const c = ctx.plan.current.shards.find((s) => s.name === shard)
  const kr = d?.keyRange ?? c?.keyRange
  if (!kr) throw new PhaseError(`shard ${shard} is not in the plan`)
  return {name: shard, kr: keyRangeFromJSON(kr)}
}

/**
 * A stream is named by what it connects, not by the workflow that started it: a revert takes over the reverse
 * streams its workflow started (the owner is kept in the state row).
 */
export function streamId(keyspace: string, source: string, destination: string): string {
  return `${keyspace}/${source}->${destination}`
}

/** A replication server id for a binlog reader, stable per stream, away from real servers' ids. */
export function readerServerId(id: string): number {
  let h = 2166136261
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619) >>> 0
  return 1_000_000 + (h % 1_000_000_000)
}

export function fmtRate(n: number): string {
  return n >= 1000 ? `${Math.round(n / 1000)}k` : String(Math.round(n))
}
