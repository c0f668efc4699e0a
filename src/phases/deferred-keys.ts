// The second half of settings.deferSecondaryKeys: once every clone of the group is done (the phase after clone runs
// only then), give a destination's tables the secondary keys copy_schema left out. Idempotent: what is added is
// computed from what the destination lacks now, so a resume after a crash (or an ALTER still finishing) is safe.
import type {Connection} from 'mysql2/promise'
import type {TaskContext} from '../engine/types.js'
import {addKeysStatement, secondaryKeys, splitSecondaryKeys} from '../mysql/deferred-keys.js'
import {dataSession} from '../mysql/session.js'
import {describeSchema} from '../mysql/tables.js'
import {groupOf, keyspaceState, primaryOf} from './context.js'

const ER_DUP_KEYNAME = 1061

export async function addDeferredKeys(ctx: TaskContext): Promise<void> {
  if (ctx.plan.desired.settings.deferSecondaryKeys !== true) return
  const db = ctx.plan.desired.database
  const state = await keyspaceState(ctx)
  const src = primaryOf(state, groupOf(ctx).sources[0]!)
  const dst = primaryOf(state, ctx.task.shard)
  const from = await dataSession(src, 'read')
  const to = await dataSession(dst, 'apply')
  try {
    const want = (await describeSchema(from, db)).tables
    for (const t of want) await addMissing(ctx, to, db, t.name, t.create, dst.alias)
  } finally {
    await from.end().catch(() => undefined)
    await to.end().catch(() => undefined)
  }
}

async function addMissing(
  ctx: TaskContext,
  to: Connection,
  db: string,
  table: string,
  create: string,
  alias: string,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const have = (await describeSchema(to, db)).tables.find((x) => x.name === table)
    if (!have || have.create === create) return
    const present = new Set(secondaryKeys(have.create))
    const missing = splitSecondaryKeys(create).keys.filter((k) => !present.has(k))
    // Anything else that differs is the diff's to report (it compares SHOW CREATE TABLE of both sides).
    if (!missing.length) return
    const started = Date.now()
    try {
      await to.query(addKeysStatement(db, table, missing))
    } catch (err) {
      // An ALTER of an earlier, interrupted attempt finished meanwhile: look again.
      if ((err as {errno?: number}).errno === ER_DUP_KEYNAME && attempt === 0) continue
      throw err
    }
    ctx.log(
      `added ${missing.length} deferred secondary key(s) to ${table} on ${alias} in ${((Date.now() - started) / 1000).toFixed(1)}s`,
    )
    return
  }
}
