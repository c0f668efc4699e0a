// 5. Diff: rows compared per second on the cloned data (the workflow's diff phase: the diff tasks approved together
// share one ordered scan of the source, phases/diff-scan.ts), against the copy rate of the same run.
import type {WorkflowRecord} from '../src/engine/types.js'
import {approveWorkflow} from '../src/engine/commands.js'
import type {TestCluster} from '../test/helpers/cluster.js'
import {until} from '../test/helpers/engine.js'
import {KEYSPACE, phaseTiming, workflowOf, type CliRun} from './lib/cluster.js'
import {fmt, log} from './lib/out.js'
import {coresUsed, describeCpu, ProcSampler} from './lib/proc.js'

export interface DiffResult {
  compared: number
  seconds: number
  rowsPerS: number
  /** Each task's rows, time, and the destinations its scan covered (one scan for several: they share it). */
  tasks: Array<{id: string; compared: number; seconds: number; scan: string[]}>
  /** How many source scans the diff phase made (distinct sets of destinations). */
  scans: number
  cpu: Record<string, number>
  cpuText: string
}

/** Wait until the workflow waits at `phase`'s gate (or fails, or apply exits). */
export async function waitAtGate(c: TestCluster, apply: CliRun, phase: string, ms: number): Promise<WorkflowRecord> {
  return until(
    async () => {
      if (apply.proc.exitCode !== null)
        throw new Error(
          `apply exited (${apply.proc.exitCode}) before the ${phase} gate:\n${apply.stdout.slice(-2000)}\n${apply.stderr.slice(-2000)}`,
        )
      const wf = await workflowOf(c.store)
      const failed = Object.values(wf.tasks).filter((t) => t.state === 'failed')
      if (failed.length)
        throw new Error(`workflow ${wf.id} failed: ${failed.map((t) => `${t.id}: ${t.error}`).join('; ')}`)
      const waiting = Object.values(wf.tasks).some((t) => t.phase === phase && t.state === 'waiting_approval')
      return waiting ? wf : undefined
    },
    ms,
    `the workflow to wait at the ${phase} gate`,
    200,
  )
}

export async function runDiff(c: TestCluster, apply: CliRun, pids: Record<string, number>): Promise<DiffResult> {
  await waitAtGate(c, apply, 'diff', 120_000)
  const sampler = new ProcSampler({...pids, 'node (apply)': apply.pid}, 200).start()
  await approveWorkflow(c.store, KEYSPACE, {phase: 'diff', who: 'bench'})
  const wf = await waitAtGate(c, apply, 'migrate_primary', 60 * 60_000)
  sampler.stop()
  const p = phaseTiming(wf, 'diff')
  const tasks = p.tasks.map((t) => ({
    id: t.id,
    compared: Number(t.output?.compared ?? 0),
    seconds: Number(t.output?.seconds ?? t.seconds ?? 0),
    scan: (
      (t.output?.scan as {destinations?: string[]} | undefined)?.destinations ?? [t.id.replace(/^diff\//, '')]
    ).map(String),
  }))
  const scans = new Set(tasks.map((t) => t.scan.join(','))).size
  const compared = tasks.reduce((s, t) => s + t.compared, 0)
  const split = sampler.cpuBetween(p.startedAt, p.finishedAt)
  const r: DiffResult = {
    compared,
    seconds: p.seconds,
    rowsPerS: compared / p.seconds,
    tasks,
    scans,
    cpu: coresUsed(split),
    cpuText: describeCpu(split),
  }
  log(
    `diff: ${compared} rows compared in ${p.seconds.toFixed(1)} s = ${fmt(r.rowsPerS)} rows/s (${tasks.map((t) => `${t.id} ${t.compared} in ${t.seconds.toFixed(1)} s`).join(', ')}; ${scans} source scan(s)); CPU ${r.cpuText}`,
  )
  return r
}
