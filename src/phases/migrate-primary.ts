// migrate_primary/<group>: the cutover. Refuse while lag is high; stop application writes on the sources; wait
// until the destinations have applied the sources' final positions (on timeout: sources writable again, fail,
// nothing lost); destinations writable; stop the forward streams; the switch of the primary partition is committed
// with the task. Writes are blocked from the freeze until that commit; the time is recorded.
import type {Executor, TaskContext} from '../engine/types.js'
import {qid, withConnection, withTablet} from '../mysql/connect.js'
import type {TabletRecord} from '../topo/records.js'
import {dataSession} from '../mysql/session.js'
import {groupOf, keyspaceState, PhaseError, primaryOf, streamId} from './context.js'
import {ensureStateTables, STATE_DB, writeStreamStart} from './streams/state.js'
import type {StreamManager} from './streams/manager.js'
import {moveTrafficOps} from './topology.js'

interface CutoverCheckpoint {
  /** Set (before read_only is) when the sources may be frozen: a resumed task must not re-check lag. */
  frozenAt?: string
}

type Row = Record<string, unknown>

export async function setReadOnly(t: TabletRecord, on: boolean): Promise<void> {
  await withTablet(t, 'admin', (c) => c.query(`SET GLOBAL read_only = ${on ? 1 : 0}`))
}

/**
 * read_only stops only users without READ ONLY ADMIN / SUPER: the application's user must be one of those, and so
 * must every role it can enable (SET ROLE, at any time, takes that role's own roles along). It is asked about itself:
 * SHOW GRANTS for the current user and its current role needs no privilege, unlike other users' or roles' grants.
 */
export async function checkWriteFreeze(t: TabletRecord): Promise<void> {
  const grants = await withTablet(t, 'app', async (c) => {
    const show = async () =>
      ((await c.query('SHOW GRANTS')) as unknown as [Row[]])[0].map((r) => String(Object.values(r)[0]))
    const all = await show()
    const [roles] = (await c.query(
      'SELECT ROLE_NAME AS r FROM information_schema.APPLICABLE_ROLES WHERE GRANTEE = CURRENT_USER()',
    )) as unknown as [Array<{r: string}>]
    for (const {r} of roles) {
      await c.query(`SET ROLE ${qid(r)}`)
      all.push(...(await show()))
    }
    return all
  })
  const strong = [...new Set(grants)].filter(
    (g) => / ON \*\.\* /.test(g) && /\b(ALL PRIVILEGES|SUPER|READ[ _]ONLY ADMIN)\b/i.test(g.split(' ON ')[0]),
  )
  if (strong.length) {
    // SHOW GRANTS ends with the password hash (IDENTIFIED BY PASSWORD '*…'): it must not reach the workflow history.
    const shown = strong.map((g) => g.replace(/ IDENTIFIED (BY|VIA|WITH) [\s\S]*$/i, ''))
    throw new PhaseError(
      `the application user ${t.user} on ${t.alias} holds global privileges that read_only does not stop (${shown.join('; ')}), so the cutover could lose its writes. Grant it only what the application needs on its database and retry.`,
    )
  }
}

export const migratePrimary: Executor = async (ctx) => {
  const g = groupOf(ctx)
  const manager = ctx.services as StreamManager
  const settings = ctx.plan.desired.settings
  const state = await keyspaceState(ctx)
  const sources = g.sources.map((s) => primaryOf(state, s))
  const destinations = g.destinations.map((d) => primaryOf(state, d))
  const streams = await manager.ensureGroup(ctx.task.group!)
  const cp = ctx.checkpoint<CutoverCheckpoint>() ?? {}

  // Before anything stops: is the group caught up, and will read_only really stop the application?
  if (!cp.frozenAt) {
    for (const s of streams) {
      if (s.failure) throw s.failure
      const ok = await s.waitForLag(settings.cutoverMaxLagSeconds, 10_000, ctx.signal)
      if (!ok) {
        const st = s.status()
        throw new PhaseError(
          `refusing to stop writes: filtered replication ${st.source} → ${st.destination} lags ${st.lagSeconds?.toFixed(1) ?? '?'}s (${st.eventsBehind ?? '?'} transactions), above the ${settings.cutoverMaxLagSeconds}s cutover limit. Nothing was changed; retry when it has caught up: shardform retry ${ctx.keyspace} ${ctx.task.id}`,
        )
      }
    }
    for (const t of sources) await checkWriteFreeze(t)
  }

  const frozenAt = cp.frozenAt ?? new Date().toISOString()
  if (!cp.frozenAt) await ctx.saveCheckpoint({frozenAt} satisfies CutoverCheckpoint)
  const t0 = Date.parse(frozenAt)
  await Promise.all(sources.map((t) => setReadOnly(t, true)))
  ctx.log(`sources ${g.sources.join(', ')} are read-only; waiting for ${g.destinations.join(', ')} to catch up`)

  const finals = await Promise.all(
    sources.map((t) =>
      withTablet(t, 'admin', async (c) =>
        String(((await c.query('SELECT @@gtid_binlog_pos AS p')) as unknown as [Row[]])[0][0].p),
      ),
    ),
  )
  const deadline = Date.now() + settings.cutoverTimeoutSeconds * 1000
  try {
    for (const s of streams) {
      const final = finals[g.sources.indexOf(s.spec.sourceShard)]
      const ok = await s.waitUntil(final, Math.max(0, deadline - Date.now()), ctx.signal)
      if (!ok) {
        const st = s.status()
        throw new PhaseError(
          `${st.destination} did not catch up with ${st.source} within ${settings.cutoverTimeoutSeconds}s (at ${st.position}, needs ${final}). The sources are writable again and nothing was lost; retry: shardform retry ${ctx.keyspace} ${ctx.task.id}`,
        )
      }
    }
  } catch (err) {
    await undoFreeze(ctx, sources)
    throw err
  }

  // The destinations' positions before they take writes: where the reverse streams start, so that the old shards
  // can be kept current and a revert of the layout can move traffic back without losing anything.
  const starts = await Promise.all(
    destinations.map((t) =>
      withTablet(t, 'admin', async (c) => {
        await c.query(`DELETE FROM ${STATE_DB}.retired WHERE keyspace = ?`, [ctx.keyspace])
        return String(((await c.query('SELECT @@gtid_binlog_pos AS p')) as unknown as [Row[]])[0][0].p)
      }),
    ),
  )
  await manager.stopGroup(ctx.task.group!)
  for (const src of sources) {
    await withConnection(await dataSession(src, 'apply'), async (c) => {
      await ensureStateTables(c)
      for (const [i, d] of g.destinations.entries())
        await writeStreamStart(
          c,
          streamId(ctx.keyspace, d, g.sources[sources.indexOf(src)]),
          ctx.workflowId,
          d,
          starts[i],
        )
    })
  }
  await Promise.all(destinations.map((t) => setReadOnly(t, false)))
  await manager.ensureReverse(ctx.task.group!)
  const ops = await moveTrafficOps(ctx, 'primary', g.sources, g.destinations)
  const writePauseMs = Date.now() - t0
  ctx.log(
    `primary traffic moves to ${g.destinations.join(', ')}; writes were paused ${writePauseMs} ms. The sources stay read-only; reverse replication keeps them current until they are retired`,
  )
  return {
    ops,
    output: {
      writePauseMs,
      finalPositions: Object.fromEntries(g.sources.map((s, i) => [s, finals[i]])),
      reverseStarts: Object.fromEntries(g.destinations.map((d, i) => [d, starts[i]])),
    },
  }
}

async function undoFreeze(ctx: TaskContext, sources: TabletRecord[]): Promise<void> {
  const results = await Promise.allSettled(sources.map((t) => setReadOnly(t, false)))
  const failed = results.map((r, i) => (r.status === 'rejected' ? sources[i].alias : '')).filter(Boolean)
  if (failed.length) {
    ctx.log(`could not make ${failed.join(', ')} writable again; do it by hand: SET GLOBAL read_only = 0`)
    return
  }
  await ctx.saveCheckpoint({} satisfies CutoverCheckpoint)
}
