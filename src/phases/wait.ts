// wait_for_filtered_replication/<dest>: until every stream into the destination lags at most the threshold.
import type {Executor, TaskContext} from '../engine/types.js'
import {groupOf} from './context.js'
import type {StreamManager} from './streams/manager.js'
import {limitLag} from './streams/types.js'
import {addKeysStatement, missingKeys} from '../mysql/secondary-keys.js'
import {dataSession} from '../mysql/session.js'
import {describeSchema} from '../mysql/tables.js'
import {keyspaceState, primaryOf} from './context.js'

/**
 * settings.deferSecondaryKeys: every clone of the group is done, so the destination's tables get the keys copy_schema
 * left out, one online ALTER TABLE each (the streams keep applying meanwhile; the wait below catches up what they
 * fell behind). Keys already there (a resumed run) are not added again.
 */
async function addDeferredKeys(ctx: TaskContext): Promise<void> {
  if (ctx.plan.desired.settings.deferSecondaryKeys !== true) return
  const state = await keyspaceState(ctx)
  const db = ctx.plan.desired.database
  const src = await dataSession(primaryOf(state, groupOf(ctx).sources[0]!), 'read')
  const dst = await dataSession(primaryOf(state, ctx.task.shard), 'apply')
  try {
    const want = (await describeSchema(src, db)).tables
    const have = (await describeSchema(dst, db)).tables
    for (const t of want) {
      const h = have.find((x) => x.name === t.name)
      const keys = h ? missingKeys(t.create, h.create) : []
      if (!keys.length) continue
      const started = Date.now()
      await dst.query(addKeysStatement(db, t.name, keys))
      ctx.log(
        `added ${keys.length} deferred secondary key(s) to ${t.name} in ${((Date.now() - started) / 1000).toFixed(1)}s`,
      )
    }
  } finally {
    await src.end().catch(() => undefined)
    await dst.end().catch(() => undefined)
  }
}

export const waitForFilteredReplication: Executor = async (ctx) => {
  await addDeferredKeys(ctx)
  const manager = ctx.services as StreamManager
  const max = ctx.plan.desired.settings.maxReplicationLagSeconds
  const streams = (await manager.ensureGroup(ctx.task.group!)).filter((s) => s.spec.destinationShard === ctx.task.shard)
  const sources = groupOf(ctx).sources
  for (;;) {
    ctx.signal.throwIfAborted()
    const st = streams.map((s) => s.status())
    const failed = streams.find((s) => s.failure)
    if (failed) throw failed.failure
    const lag = Math.max(...st.map((s) => limitLag(s) ?? Number.POSITIVE_INFINITY))
    const lagMs = Math.round(Math.max(...st.map((s) => s.lagMs ?? (s.lagSeconds ?? Number.POSITIVE_INFINITY) * 1000)))
    const events = st.reduce((n, s) => n + (s.eventsBehind ?? 0), 0)
    ctx.progress({
      lagSeconds: Number.isFinite(lag) ? Math.round(lag * 10) / 10 : undefined,
      lagMs: Number.isFinite(lagMs) ? lagMs : undefined,
      lagEvents: events,
      message: `from ${sources.join(', ')}`,
    })
    if (lag <= max) {
      ctx.log(
        `filtered replication into ${ctx.task.shard} lags ${lagMs} ms (${events} transaction(s) behind), within ${max}s`,
      )
      return {output: {lagSeconds: lag, lagMs, eventsBehind: events}}
    }
    // Wait for a stream still above the limit: one already within it would resolve at once, and this loop would
    // spin without ever letting the others' lag be measured.
    const behind = streams.filter((s, i) => !((limitLag(st[i]!) ?? Number.POSITIVE_INFINITY) <= max))
    await Promise.race(behind.map((s) => s.waitForLag(max, 1000, ctx.signal)))
  }
}
