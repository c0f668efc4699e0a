// Executors whose whole effect is topology records: returned as ops, committed with the task's "done" (exactly once).
import type {Executor, TaskContext} from '../engine/types.js'
import {errorMessage} from '../errors.js'
import {sortShardNames} from '../keyspace/keyrange.js'
import {shardRecord, tabletRecord} from '../layout/records.js'
import {keyspacePath, shardPath, srvKeyspacePath, tabletPath} from '../topo/paths.js'
import type {KeyspaceRecord, ShardRecord, SrvKeyspaceRecord, TabletRecord, TabletType} from '../topo/records.js'
import type {Entry, TxnOp} from '../topo/store.js'
import {groupOf, PhaseError, shardRange} from './context.js'
import type {StreamManager} from './streams/manager.js'

async function must<T>(ctx: TaskContext, path: string, what: string): Promise<Entry<T>> {
  const e = await ctx.store.get<T>(path)
  if (!e) throw new PhaseError(`${what} is missing from the topology (${path})`)
  return e
}

export const applyVSchema: Executor = async (ctx) => {
  const ks = await must<KeyspaceRecord>(ctx, keyspacePath(ctx.keyspace), `keyspace ${ctx.keyspace}`)
  const vschema = ctx.plan.desired.vschema
  ctx.log(
    `vschema of ${ctx.keyspace} becomes ${vschema.sharded ? 'sharded' : 'unsharded'} (${Object.keys(vschema.tables ?? {}).length} tables)`,
  )
  return {
    ops: [
      {
        op: 'put',
        path: keyspacePath(ctx.keyspace),
        value: {...ks.value, vschema, sharded: vschema.sharded},
        version: ks.version,
      },
    ],
  }
}

export const updateTablets: Executor = async (ctx) => {
  const shard = ctx.task.shard
  const spec = ctx.plan.desired.shards.find((s) => s.name === shard)
  if (!spec) throw new PhaseError(`shard ${shard} is not in the plan's layout`)
  const ops: TxnOp[] = []
  for (const ch of ctx.plan.changes.filter((c) => c.kind === 'tablet' && c.shard === shard)) {
    const path = tabletPath(ch.name)
    const cur = await ctx.store.get<TabletRecord>(path)
    if (ch.action === 'retire') {
      if (cur) ops.push({op: 'delete', path, version: cur.version})
      continue
    }
    const t = spec.tablets.find((x) => x.alias === ch.name)!
    ops.push({
      op: 'put',
      path,
      value: tabletRecord(t, ctx.keyspace, shard, ctx.plan.desired.database),
      version: ch.action === 'create' ? null : cur?.version,
    })
  }
  return {ops}
}

export const createShards: Executor = async (ctx) => {
  const shard = ctx.task.shard
  const group = groupOf(ctx)
  const spec = ctx.plan.desired.shards.find((s) => s.name === shard)
  if (!spec) throw new PhaseError(`shard ${shard} is not in the plan's layout`)
  if (await ctx.store.get(shardPath(ctx.keyspace, shard))) {
    throw new PhaseError(
      `shard ${ctx.keyspace}/${shard} already exists in the topology; it may be left from another workflow. Inspect it with shardform topo show ${ctx.keyspace}`,
    )
  }
  for (const t of spec.tablets) {
    const other = await ctx.store.get<TabletRecord>(tabletPath(t.alias))
    if (other)
      throw new PhaseError(
        `tablet alias ${t.alias} is already registered (keyspace ${other.value.keyspace}, shard ${other.value.shard}); give the new tablet another alias`,
      )
  }
  const sourceShards = group.sources.map((s) => ({
    keyspace: ctx.keyspace,
    shard: s,
    keyRange: ctx.plan.current.shards.find((c) => c.name === s)!.keyRange,
  }))
  const ops: TxnOp[] = [
    {op: 'put', path: shardPath(ctx.keyspace, shard), value: shardRecord(spec, [], sourceShards), version: null},
  ]
  for (const t of spec.tablets)
    ops.push({
      op: 'put',
      path: tabletPath(t.alias),
      value: tabletRecord(t, ctx.keyspace, shard, ctx.plan.desired.database),
      version: null,
    })
  ctx.log(
    `shard ${shard} (${shardRange(ctx, shard).name}) created, not serving; tablets ${spec.tablets.map((t) => t.alias).join(', ')} registered`,
  )
  return {ops}
}

/** Ops that move `type` traffic of a group from its sources to its destinations (SrvKeyspace and shard records). */
export async function moveTrafficOps(
  ctx: TaskContext,
  type: TabletType,
  from: string[],
  to: string[],
): Promise<TxnOp[]> {
  const srv = await must<SrvKeyspaceRecord>(ctx, srvKeyspacePath(ctx.keyspace), `SrvKeyspace of ${ctx.keyspace}`)
  const serving = srv.value.partitions[type]
  const missing = from.filter((s) => !serving.includes(s))
  if (missing.length) {
    throw new PhaseError(
      `${type} traffic of ${ctx.keyspace} is not served by ${missing.join(', ')} as this workflow expects (it is served by ${serving.join(', ') || 'nothing'}); the topology was changed outside this workflow`,
    )
  }
  const next = sortShardNames([...serving.filter((s) => !from.includes(s)), ...to])
  const ops: TxnOp[] = [
    {
      op: 'put',
      path: srvKeyspacePath(ctx.keyspace),
      value: {partitions: {...srv.value.partitions, [type]: next}},
      version: srv.version,
    },
  ]
  for (const name of [...from, ...to]) {
    const sh = await must<ShardRecord>(ctx, shardPath(ctx.keyspace, name), `shard ${name}`)
    const served = from.includes(name)
      ? sh.value.servedTypes.filter((t) => t !== type)
      : [...new Set([...sh.value.servedTypes, type])]
    // A shard that hands over its primary traffic is frozen; one that takes it over is not (a revert thaws it).
    const frozen = type === 'primary' ? from.includes(name) : sh.value.frozen
    ops.push({
      op: 'put',
      path: shardPath(ctx.keyspace, name),
      value: {...sh.value, servedTypes: served, frozen},
      version: sh.version,
    })
  }
  return ops
}

export function migrateReadTraffic(type: 'rdonly' | 'replica'): Executor {
  return async (ctx) => {
    const g = groupOf(ctx)
    await streamsRunning(ctx, type)
    ctx.log(`${type} traffic: ${g.sources.join(', ')} → ${g.destinations.join(', ')}`)
    return {ops: await moveTrafficOps(ctx, type, g.sources, g.destinations)}
  }
}

/**
 * Read traffic moves only onto shards that filtered replication keeps current: a stream that failed (its source
 * primary down, say) is started again from its stored position, and when that fails nothing moves.
 */
async function streamsRunning(ctx: TaskContext, type: 'rdonly' | 'replica'): Promise<void> {
  const manager = ctx.services as StreamManager | undefined
  if (!manager) return
  const g = groupOf(ctx)
  try {
    const failed = (await manager.ensureGroup(ctx.task.group!)).find((s) => s.failure)
    if (failed) throw failed.failure
  } catch (err) {
    throw new PhaseError(
      `not moving ${type} traffic to ${g.destinations.join(', ')}: nothing would keep them current: ${errorMessage(err)}`,
      {cause: err},
    )
  }
}
