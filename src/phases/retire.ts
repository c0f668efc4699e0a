// retire_sources/<source>: the shard and its tablets leave the topology; the data stays on the servers, marked
// as retired there so that a later reshard may reuse the server as a destination.
import type {Executor} from '../engine/types.js'
import {connectTablet} from '../mysql/connect.js'
import {dataSession} from '../mysql/session.js'
import {shardPath, srvKeyspacePath, tabletPath} from '../topo/paths.js'
import type {ShardRecord, SrvKeyspaceRecord} from '../topo/records.js'
import type {TxnOp} from '../topo/store.js'
import {groupOf, keyspaceState, PhaseError, primaryOf, streamId} from './context.js'
import {deleteStream, ensureStateTables, STATE_DB} from './streams/state.js'
import type {StreamManager} from './streams/manager.js'

export const retireSources: Executor = async (ctx) => {
  const source = ctx.task.shard
  const group = groupOf(ctx)
  const state = await keyspaceState(ctx)
  const shard = await ctx.store.get<ShardRecord>(shardPath(ctx.keyspace, source))
  if (!shard) throw new PhaseError(`shard ${source} is no longer in the topology`)
  const srv = await ctx.store.get<SrvKeyspaceRecord>(srvKeyspacePath(ctx.keyspace))
  for (const [type, shards] of Object.entries(srv?.value.partitions ?? {})) {
    if (shards.includes(source))
      throw new PhaseError(`shard ${source} still serves ${type} traffic; it cannot be retired`)
  }
  const tablets = state.tablets.filter((t) => t.shard === source)
  // The reverse streams into it have nothing left to keep current.
  await (ctx.services as StreamManager | undefined)?.stopWhere((s) => s.spec.destinationShard === source)
  // Mark the server's data as stale, then forget the streams that fed the destinations from it.
  // Both are housekeeping: without the mark, reusing the server as a destination is refused rather than unsafe.
  // The mark stays out of the binlog: after migrate_primary the old shard takes no transaction at all.
  const primary = primaryOf(state, source)
  await bestEffort(ctx, `marking ${primary.alias} as retired`, async () => {
    const conn = await connectTablet(primary, 'admin')
    try {
      await conn.query('SET SESSION sql_log_bin = 0')
      await ensureStateTables(conn)
      await conn.query(
        `REPLACE INTO ${STATE_DB}.retired (keyspace, shard, workflow, retired_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))`,
        [ctx.keyspace, source, ctx.workflowId],
      )
      for (const d of group.destinations)
        await conn.query(`DELETE FROM ${STATE_DB}.streams WHERE id = ?`, [streamId(ctx.keyspace, d, source)])
    } finally {
      await conn.end()
    }
  })
  for (const d of group.destinations) {
    await bestEffort(ctx, `forgetting the stream ${source} → ${d}`, async () => {
      const c = await dataSession(primaryOf(state, d), 'apply')
      try {
        await deleteStream(c, streamId(ctx.keyspace, source, d))
      } finally {
        await c.end()
      }
    })
  }
  const ops: TxnOp[] = [{op: 'delete', path: shardPath(ctx.keyspace, source), version: shard.version}]
  for (const t of tablets) {
    const e = await ctx.store.get(tabletPath(t.alias))
    if (e) ops.push({op: 'delete', path: tabletPath(t.alias), version: e.version})
  }
  for (const d of group.destinations) {
    const rec = await ctx.store.get<ShardRecord>(shardPath(ctx.keyspace, d))
    if (rec)
      ops.push({
        op: 'put',
        path: shardPath(ctx.keyspace, d),
        value: {...rec.value, sourceShards: rec.value.sourceShards.filter((s) => s.shard !== source)},
        version: rec.version,
      })
  }
  ctx.log(
    `shard ${source} retired. These servers no longer belong to ${ctx.keyspace} and can be decommissioned (their data was left as it was, read-only): ${tablets.map((t) => `${t.alias} (${t.type} ${t.host}:${t.port})`).join(', ')}`,
  )
  return {ops, output: {decommission: tablets.map((t) => ({alias: t.alias, type: t.type, host: t.host, port: t.port}))}}
}

async function bestEffort(ctx: {log(m: string): void}, what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (err) {
    ctx.log(`${what} failed (${(err as Error).message}); continuing`)
  }
}
