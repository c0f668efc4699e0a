// 4. Cutover: migrate_primary under a steady write load through the router. Baseline: the same load for the same
// time just before, without a cutover. Every acknowledged write is journaled and verified afterwards.
import {join} from 'node:path'
import {approveWorkflow} from '../src/engine/commands.js'
import {runLoad, type LoadSummary} from '../src/load/generator.js'
import {verifyJournal, type VerifyReport} from '../src/load/verify.js'
import type {TestCluster} from '../test/helpers/cluster.js'
import {KEYSPACE, taskTiming, workflowOf, type CliRun} from './lib/cluster.js'
import {log} from './lib/out.js'
import {openRouter} from './steady-lag.js'
import {waitAtGate} from './diff.js'

export interface CutoverResult {
  before: LoadSummary
  during: LoadSummary
  writePauseMs: number
  migrateSeconds: number
  verify: VerifyReport
  applyCode: number | null
}

export async function cutover(
  c: TestCluster,
  apply: CliRun,
  o: {rate: number; concurrency: number; seconds: number},
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
    const during = load(0, ac.signal)
    await new Promise((r) => setTimeout(r, 2000))
    await approveWorkflow(c.store, KEYSPACE, {phase: 'migrate_primary', who: 'bench'})
    const {code} = await apply.done
    await new Promise((r) => setTimeout(r, 3000))
    ac.abort()
    const d = await during
    const wf = await workflowOf(c.store)
    const mp = taskTiming(wf, 'migrate_primary/0')
    const writePauseMs = Number(mp.output?.writePauseMs ?? NaN)
    const verify = await verifyJournal({store: c.store, keyspace: KEYSPACE, journalFile: journal})
    log(
      `cutover: apply exited ${code}, workflow ${wf.state}; migrate_primary ${mp.seconds?.toFixed(2)} s, sources read-only ${writePauseMs} ms; load: max ${d.latencyMs.max} ms, p99 ${d.latencyMs.p99} ms, ${d.errors} errors, ${d.buffered.buffered} writes held by the router (longest ${d.buffered.maxBufferedMs} ms); journal verify ${verify.ok ? 'ok' : 'FAILED'} (${verify.counts.present} present, ${verify.counts.missing} missing)`,
    )
    return {before, during: d, writePauseMs, migrateSeconds: mp.seconds ?? NaN, verify, applyCode: code}
  } finally {
    await router.close()
  }
}
