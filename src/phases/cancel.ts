// Cancel a reshard group whose primary traffic never moved (a revert before migrate_primary): read traffic goes
// back, the streams are forgotten, the sources are certainly writable, the new shards leave the topology.
import type {Executor, WorkflowRecord} from '../engine/types.js'
import {withTablet} from '../mysql/connect.js'
import {frozenPosition, startReplica} from '../mysql/snapshot.js'
import {shardPath, tabletPath, workflowPath} from '../topo/paths.js'
import type {ShardRecord} from '../topo/records.js'
import type {TxnOp} from '../topo/store.js'
import {groupOf, keyspaceState, PhaseError, primaryOf, streamId} from './context.js'
import {ensureStateTables, STATE_DB} from './streams/state.js'
import {moveTrafficOps} from './topology.js'

export function cancelReadTraffic(type: 'rdonly' | 'replica'): Executor {
  return async (ctx) => {
    const g = groupOf(ctx)
    ctx.log(`${type} traffic back: ${g.destinations.join(', ')} → ${g.sources.join(', ')}`)
    return {ops: await moveTrafficOps(ctx, type, g.destinations, g.sources)}
  }
}

export const stopFilteredReplication: Executor = async (ctx) => {
  const g = groupOf(ctx)
  const state = await keyspaceState(ctx)
  for (const d of g.destinations) {
    if (!state.shards.some((s) => s.name === d)) continue
    await withTablet(primaryOf(state, d), 'admin', async (c) => {
      await ensureStateTables(c)
      for (const s of g.sources)
        await c.query(`DELETE FROM ${STATE_DB}.streams WHERE id = ?`, [streamId(ctx.keyspace, s, d)])
    })
  }
  // An interrupted cutover may have left a source frozen; it serves primary traffic, so it must take writes.
  for (const s of g.sources) {
    const t = primaryOf(state, s)
    const thawed = await withTablet(t, 'admin', async (c) => {
      const [[r]] = (await c.query('SELECT @@global.read_only AS ro')) as unknown as [Array<{ro: number | string}>]
      if (Number(r.ro) === 0) return false
      await c.query('SET GLOBAL read_only = 0')
      return true
    })
    if (thawed) ctx.log(`source ${s} (${t.alias}) was left read-only by an interrupted cutover; it takes writes again`)
  }
  // An apply that died in the middle of a clone left the source's rdonly stopped at its snapshot; only that clone
  // would restart it, and the rdonly serves its shard's rdonly traffic again.
  const reverted = ctx.plan.revert
    ? (await ctx.store.get<WorkflowRecord>(workflowPath(ctx.plan.revert.workflow)))?.value
    : undefined
  for (const s of g.sources) {
    const snap = (
      reverted?.tasks[`clone/${s}`]?.checkpoint as {snapshot?: {kind: string; tablet: string; gtid: string}} | undefined
    )?.snapshot
    const t = snap?.kind === 'rdonly' ? state.tablets.find((x) => x.alias === snap.tablet) : undefined
    if (!t) continue
    try {
      if ((await frozenPosition(t)) !== snap!.gtid) continue
      await startReplica(t)
      ctx.log(`rdonly ${t.alias} of ${s} was left stopped at the snapshot of an interrupted clone; it replicates again`)
    } catch (err) {
      ctx.log(
        `rdonly ${t.alias} of ${s} may be left stopped by an interrupted clone (${(err as Error).message}); check it and run START SLAVE on it`,
      )
    }
  }
  ctx.log(`filtered replication ${g.sources.join(', ')} → ${g.destinations.join(', ')} stopped for good`)
}

export const deleteShards: Executor = async (ctx) => {
  const shard = ctx.task.shard
  const state = await keyspaceState(ctx)
  const rec = await ctx.store.get<ShardRecord>(shardPath(ctx.keyspace, shard))
  if (!rec) {
    ctx.log(`shard ${shard} is not in the topology (nothing to delete)`)
    return
  }
  if (rec.value.servedTypes.length)
    throw new PhaseError(
      `shard ${shard} still serves ${rec.value.servedTypes.join(', ')} traffic; it cannot be deleted`,
    )
  const tablets = state.tablets.filter((t) => t.shard === shard)
  // Its rows are stale from now on: mark the server so that a later reshard may reuse it as a destination.
  const primary = tablets.find((t) => t.type === 'primary')
  if (primary) {
    await withTablet(primary, 'admin', async (c) => {
      await c.query('SET SESSION sql_log_bin = 0')
      await ensureStateTables(c)
      await c.query(
        `REPLACE INTO ${STATE_DB}.retired (keyspace, shard, workflow, retired_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))`,
        [ctx.keyspace, shard, ctx.workflowId],
      )
    }).catch((err) => ctx.log(`marking ${primary.alias} as retired failed (${(err as Error).message}); continuing`))
  }
  const ops: TxnOp[] = [{op: 'delete', path: shardPath(ctx.keyspace, shard), version: rec.version}]
  for (const t of tablets) {
    const e = await ctx.store.get(tabletPath(t.alias))
    if (e) ops.push({op: 'delete', path: tabletPath(t.alias), version: e.version})
  }
  ctx.log(
    `shard ${shard} and tablets ${tablets.map((t) => t.alias).join(', ')} leave the topology; their data stays on the servers`,
  )
  return {ops}
}
