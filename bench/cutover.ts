// 4. Cutover: migrate_primary under a steady write load through the router. Baseline: the same load for the same
// time just before, without a cutover. Every acknowledged write is journaled and verified afterwards.
import {join} from 'node:path'
import {approveWorkflow} from '../src/engine/commands.js'
import {runLoad, type LoadSummary, type OpTiming} from '../src/load/generator.js'
import {verifyJournal, type VerifyReport} from '../src/load/verify.js'
import type {TestCluster} from '../test/helpers/cluster.js'
import {KEYSPACE, taskTiming, workflowOf, type CliRun} from './lib/cluster.js'
import {log} from './lib/out.js'
import {percentiles, type Percentiles} from './lib/probes.js'
import {openRouter} from './steady-lag.js'
import {waitAtGate} from './diff.js'

export interface CutoverResult {
  before: LoadSummary
  during: LoadSummary
  writePauseMs: number
  migrateSeconds: number
  verify: VerifyReport
  applyCode: number | null
  /** The write pause as the client saw it, from the per-write timings of the load during the cutover. */
  client: ClientPause
}

export interface ClientPause {
  /** First write held by the router or refused (its send time) → first write acknowledged by a new shard (ms). */
  pauseMs: number
  /** Latency of the writes in flight during the freeze window (first held/refused write sent → last one answered). */
  freeze: Percentiles
  windowMs: number
  held: number
  refused: number
  /** Last write acknowledged by a source shard → first acknowledged by a new shard (ms): the gap in acknowledgements. */
  ackGapMs: number
  /** migrate_primary's own read-only start (frozenAt) → the client's first held or refused write (ms; + = later). */
  freezeToFirstHeldMs?: number
}

/**
 * From every write of the load: when the first one was held or refused (sent at), when the first one was
 * acknowledged by a destination shard, and the latencies of the writes that overlapped that window.
 */
export function clientPause(ops: OpTiming[], sources: string[], destinations: string[]): ClientPause {
  const stalled = ops
    .filter((o) => o.error !== undefined || (o.attempts ?? 1) > 1)
    .sort((a, b) => a.startMs - b.startMs)
  const firstNew = ops
    .filter((o) => o.shard !== undefined && destinations.includes(o.shard))
    .sort((a, b) => a.endMs - b.endMs)[0]
  const lastOld = ops
    .filter((o) => o.shard !== undefined && sources.includes(o.shard) && (!firstNew || o.endMs <= firstNew.endMs))
    .sort((a, b) => b.endMs - a.endMs)[0]
  if (!firstNew) throw new Error('no write of the load was acknowledged by a destination shard')
  const from = stalled[0]?.startMs ?? lastOld?.endMs ?? firstNew.endMs
  const to = Math.max(firstNew.endMs, ...stalled.map((o) => o.endMs))
  const inWindow = ops.filter((o) => o.endMs >= from && o.startMs <= to && o.error === undefined)
  return {
    pauseMs: Math.round(firstNew.endMs - from),
    freeze: percentiles(inWindow.map((o) => o.endMs - o.startMs)),
    windowMs: Math.round(to - from),
    held: stalled.filter((o) => o.error === undefined).length,
    refused: stalled.filter((o) => o.error !== undefined).length,
    ackGapMs: Math.round(firstNew.endMs - (lastOld?.endMs ?? from)),
  }
}

export async function cutover(
  c: TestCluster,
  apply: CliRun,
  o: {rate: number; concurrency: number; seconds: number; sources: string[]; destinations: string[]},
): Promise<CutoverResult> {
  await waitAtGate(c, apply, 'migrate_primary', 60_000)
  const router = await openRouter(c, o.concurrency)
  const journal = join(c.dir, 'cutover.journal')
  try {
    const load = (durationMs: number, signal?: AbortSignal) =>
      runLoad({
        keyspace: KEYSPACE,
        router,
        rate: o.rate,
        concurrency: o.concurrency,
        durationMs,
        signal,
        journalFile: journal,
        messageBytes: 100,
      })
    const before = await load(o.seconds * 1000)
    log(
      `cutover baseline: ${o.rate} writes/s at concurrency ${o.concurrency} for ${o.seconds} s without a cutover: max ${before.latencyMs.max} ms, p99 ${before.latencyMs.p99} ms, ${before.errors} errors`,
    )

    const ac = new AbortController()
    const ops: OpTiming[] = []
    const during = runLoad({
      keyspace: KEYSPACE,
      router,
      rate: o.rate,
      concurrency: o.concurrency,
      durationMs: 0,
      signal: ac.signal,
      journalFile: journal,
      messageBytes: 100,
      onOp: (x) => ops.push(x),
    })
    await new Promise((r) => setTimeout(r, 2000))
    await approveWorkflow(c.store, KEYSPACE, {phase: 'migrate_primary', who: 'bench'})
    const {code} = await apply.done
    await new Promise((r) => setTimeout(r, 3000))
    ac.abort()
    const d = await during
    const wf = await workflowOf(c.store)
    const mp = taskTiming(wf, 'migrate_primary/0')
    const writePauseMs = Number(mp.output?.writePauseMs ?? NaN)
    const client = clientPause(ops, o.sources, o.destinations)
    const cp = wf.tasks['migrate_primary/0']?.checkpoint as {frozenAt?: string} | undefined
    const frozenAt = Date.parse(cp?.frozenAt ?? '')
    const firstStalled = ops.filter((x) => x.error !== undefined || (x.attempts ?? 1) > 1).map((x) => x.startMs)
    if (Number.isFinite(frozenAt) && firstStalled.length)
      client.freezeToFirstHeldMs = Math.round(Math.min(...firstStalled) - frozenAt)
    const verify = await verifyJournal({store: c.store, keyspace: KEYSPACE, journalFile: journal})
    log(
      `cutover: apply exited ${code}, workflow ${wf.state}; migrate_primary ${mp.seconds?.toFixed(2)} s, sources read-only ${writePauseMs} ms; load: max ${d.latencyMs.max} ms, p99 ${d.latencyMs.p99} ms, ${d.errors} errors, ${d.buffered.buffered} writes held by the router (longest ${d.buffered.maxBufferedMs} ms); journal verify ${verify.ok ? 'ok' : 'FAILED'} (${verify.counts.present} present, ${verify.counts.missing} missing)`,
    )
    log(
      `cutover at the client: first write held or refused → first write acknowledged by ${o.destinations.join(' or ')}: ${client.pauseMs} ms (${client.held} held, ${client.refused} refused; last acknowledged by ${o.sources.join(', ')} → first by a new shard ${client.ackGapMs} ms); writes in the freeze window (${client.windowMs} ms): ${client.freeze.count}, p50 ${client.freeze.p50Ms.toFixed(1)} ms, p99 ${client.freeze.p99Ms.toFixed(1)} ms`,
    )
    return {before, during: d, writePauseMs, migrateSeconds: mp.seconds ?? NaN, verify, applyCode: code, client}
  } finally {
    await router.close()
  }
}
