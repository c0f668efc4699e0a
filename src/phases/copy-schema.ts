// copy_schema: the tables and views of the first source shard, created on a destination primary.
import type {Connection} from 'mysql2/promise'
import {diffPackage} from '../util/lazy.js'
import type {Executor} from '../engine/types.js'
import {qid} from '../mysql/connect.js'
import {splitSecondaryKeys} from '../mysql/deferred-keys.js'
import {dataSession} from '../mysql/session.js'
import {describeSchema, type ViewInfo} from '../mysql/tables.js'
import {groupOf, keyspaceState, PhaseError, primaryOf} from './context.js'
import {ensureStateTables, STATE_DB} from './streams/state.js'

type Row = Record<string, unknown>

export const copySchema: Executor = async (ctx) => {
  const group = groupOf(ctx)
  const state = await keyspaceState(ctx)
  const db = ctx.plan.desired.database
  const src = primaryOf(state, group.sources[0])
  const dst = primaryOf(state, ctx.task.shard)
  const from = await dataSession(src, 'apply')
  const to = await dataSession(dst, 'apply')
  try {
    const schema = await describeSchema(from, db)
    if (schema.triggers.length) {
      // Rows are copied and replicated as they are: a trigger on a destination would apply its effect a second
      // time (and on the old shards again, under reverse replication).
      throw new PhaseError(
        `${db} on ${src.alias} has triggers (${schema.triggers.map((t) => `${t.name} on ${t.table}`).join(', ')}); shardform copies rows with their triggers' effects already in them and cannot reshard tables with triggers. Drop them for the reshard and create them again on the new shards afterwards, then retry: shardform retry ${ctx.keyspace} ${ctx.task.id}`,
      )
    }
    if (!schema.tables.length) ctx.log(`the source ${group.sources[0]} has no tables in ${db}; copying an empty schema`)
    await to.query(`CREATE DATABASE IF NOT EXISTS ${qid(db)}`)
    await ensureStateTables(to)
    // Destination primaries take no application writes until migrate_primary; shardform's own user still can.
    await to.query('SET GLOBAL read_only = 1')
    const existing = await describeSchema(to, db)
    const stale = await emptyIfRetired(
      ctx.keyspace,
      to,
      db,
      existing.tables.map((t) => t.name),
      (m) => ctx.log(m),
      dst.alias,
    )
    const defer = ctx.plan.desired.settings.deferSecondaryKeys === true
    let deferred = 0
    for (const t of schema.tables) {
      const have = existing.tables.find((x) => x.name === t.name)
      // Deferred keys: the table without them now; wait_for_filtered_replication adds them after the copy.
      const split = defer ? splitSecondaryKeys(t.create) : {base: t.create, keys: []}
      if (defer && split.kept) ctx.log(`${t.name} keeps its secondary keys during the copy: ${split.kept}`)
      if (!have) {
        await to.query(`USE ${qid(db)}`)
        await to.query(split.base)
        if (split.keys.length) deferred++
      } else if (have.create !== t.create && have.create !== split.base) {
        throw new PhaseError(
          `table ${db}.${t.name} already exists on ${dst.alias} (shard ${ctx.task.shard}) with a different definition:\n${schemaDiff(t.create, have.create, src.alias, dst.alias)}\nMake them identical (or drop the table on ${dst.alias}) and retry: shardform retry ${ctx.keyspace} ${ctx.task.id}`,
        )
      }
    }
    for (const v of schema.views) {
      const have = existing.views.find((x) => x.name === v.name)
      if (!have) {
        await to.query(`USE ${qid(db)}`)
        await createView(to, v, dst.alias, (m) => ctx.log(m))
      } else if (have.create !== v.create) {
        throw new PhaseError(
          `view ${db}.${v.name} already exists on ${dst.alias} with a different definition:\n${schemaDiff(v.create, have.create, src.alias, dst.alias)}`,
        )
      }
    }
    ctx.log(
      `${schema.tables.length} table(s) and ${schema.views.length} view(s) of ${db} on ${dst.alias}${deferred ? ` (${deferred} without their secondary keys until the copy is done)` : ''}${stale ? `; emptied ${stale} stale row(s) left by a retired shard` : ''}`,
    )
    return {output: {tables: schema.tables.map((t) => t.name), views: schema.views.map((v) => v.name)}}
  } finally {
    await from.end().catch(() => undefined)
    await to.end().catch(() => undefined)
  }
}

/** Keep the view's definer; without the privilege to create a view for another user, own it and say so. */
async function createView(conn: Connection, v: ViewInfo, alias: string, log: (m: string) => void): Promise<void> {
  try {
    await conn.query(v.original)
  } catch (err) {
    const e = err as {errno?: number}
    if (e.errno !== 1227 && e.errno !== 1045 && e.errno !== 1449) throw err
    await conn.query(v.create)
    log(
      `view ${v.name} on ${alias} belongs to shardform's user: it may not create views for their original definer (grant SET USER to keep it)`,
    )
  }
}

/**
 * A destination must start empty. Rows there are acceptable only when shardform itself retired this server's shard
 * earlier (its data is stale by definition): then they are removed. Anything else stops the copy.
 */
async function emptyIfRetired(
  keyspace: string,
  conn: Connection,
  db: string,
  tables: string[],
  log: (m: string) => void,
  alias: string,
): Promise<number> {
  let total = 0
  const counts: Array<[string, number]> = []
  for (const t of tables) {
    const [[r]] = (await conn.query(`SELECT COUNT(*) AS n FROM ${qid(db)}.${qid(t)}`)) as unknown as [Row[]]
    const n = Number(r.n)
    if (n > 0) counts.push([t, n])
    total += n
  }
  if (!total) return 0
  const [retired] = (await conn.query(
    `SELECT shard, workflow, retired_at FROM ${STATE_DB}.retired WHERE keyspace = ?`,
    [keyspace],
  )) as unknown as [Row[]]
  if (!retired.length) {
    throw new PhaseError(
      `destination tablet ${alias} already holds rows (${counts.map(([t, n]) => `${t}: ${n}`).join(', ')}) that shardform did not leave there; it copies only into empty tables. Empty those tables or point the shard at another server, then retry.`,
    )
  }
  log(
    `tablet ${alias} held ${total} row(s) from shard ${String(retired[0].shard)}, retired by ${String(retired[0].workflow)}; emptying them before the copy`,
  )
  for (const [t] of counts) await conn.query(`TRUNCATE TABLE ${qid(db)}.${qid(t)}`)
  await conn.query(`DELETE FROM ${STATE_DB}.retired WHERE keyspace = ?`, [keyspace])
  return total
}

function schemaDiff(want: string, have: string, srcAlias: string, dstAlias: string): string {
  return diffPackage()
    .createTwoFilesPatch(
      `source (${srcAlias})`,
      `destination (${dstAlias})`,
      want + '\n',
      have + '\n',
      undefined,
      undefined,
      {context: 2},
    )
    .split('\n')
    .filter((l) => !/^=+$/.test(l))
    .join('\n')
    .trimEnd()
}
