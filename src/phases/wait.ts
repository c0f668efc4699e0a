// wait_for_filtered_replication/<dest>: until every stream into the destination lags at most the threshold.
import type {Executor} from '../engine/types.js'
import {groupOf} from './context.js'
import {addDeferredKeys} from './deferred-keys.js'
import type {StreamManager} from './streams/manager.js'
import {limitLag} from './streams/types.js'

export const waitForFilteredReplication: Executor = async (ctx) => {
  const manager = ctx.services as StreamManager
  const max = ctx.plan.desired.settings.maxReplicationLagSeconds
  const streams = (await manager.ensureGroup(ctx.task.group!)).filter((s) => s.spec.destinationShard === ctx.task.shard)
  const sources = groupOf(ctx).sources
  // Every clone of the group is done: the secondary keys copy_schema deferred go on now, streams running meanwhile.
  await addDeferredKeys(ctx)
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
