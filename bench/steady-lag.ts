// 3. Steady lag: the highest write rate the load generator sustains through the router while filtered replication
// keeps lag under 1 s. Baseline: the load generator's own maximum against shard 0 with no stream running.
import type {Connection} from 'mysql2/promise'
import {runLoad, type LoadSummary} from '../src/load/generator.js'
import {Router} from '../src/routing/router.js'
import type {StreamsRecord} from '../src/phases/streams/manager.js'
import {workflowStreamsPath} from '../src/topo/paths.js'
import type {TestCluster} from '../test/helpers/cluster.js'
import {KEYSPACE, pidOf, session, workflowOf} from './lib/cluster.js'
import {LagProbe, type LagWindow} from './lib/lag.js'
import {fmt, log} from './lib/out.js'
import {coresUsed, describeCpu, ProcSampler} from './lib/proc.js'

export const LOAD_CONCURRENCY = 16

export async function openRouter(c: TestCluster, concurrency = LOAD_CONCURRENCY): Promise<Router> {
  return Router.open({store: c.store, keyspace: KEYSPACE, connectionLimit: concurrency})
}

/** The load generator as fast as it goes (rate 0) for `seconds`, through the router. */
export async function loadMax(
  c: TestCluster,
  seconds: number,
  pids: Record<string, number>,
  concurrency = LOAD_CONCURRENCY,
): Promise<LoadSummary & {cpu: Record<string, number>; cpuText: string}> {
  const router = await openRouter(c, concurrency)
  const sampler = new ProcSampler({'node (bench: load generator)': process.pid, ...pids}, 200).start()
  try {
    const t0 = Date.now()
    const s = await runLoad({
      keyspace: KEYSPACE,
      router,
      rate: 0,
      durationMs: seconds * 1000,
      concurrency,
      messageBytes: 100,
    })
    const split = sampler.stop().cpuBetween(t0, Date.now())
    if (s.errors) throw new Error(`the load generator had ${s.errors} errors: ${s.firstErrors.join('; ')}`)
    log(
      `load generator alone (no stream): ${fmt(s.ratePerSec)} writes/s for ${seconds} s at concurrency ${concurrency}; latency p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms; CPU ${describeCpu(split)}`,
    )
    return {...s, cpu: coresUsed(split), cpuText: describeCpu(split)}
  } finally {
    sampler.stop()
    await router.close()
  }
}

export interface LagStep {
  target: number
  achieved: number
  lag: LagWindow
  /** Highest lag shardform itself published in workflows/<id>/Streams during the step (s). */
  reportedLagS?: number
  errors: number
  cpu: Record<string, number>
  passed: boolean
  saturated: boolean
}

export interface SteadyLagResult {
  best?: LagStep
  steps: LagStep[]
}

/** Ramp the load through the router while the streams run (apply waits at a gate); lag measured by probes. */
export async function steadyLag(
  c: TestCluster,
  o: {source: string; destinations: string[]; baselineRate: number; stepSeconds: number; pids: Record<string, number>},
): Promise<SteadyLagResult> {
  const src = await session(c, o.source)
  const dests: Connection[] = await Promise.all(o.destinations.map((d) => session(c, d)))
  const probe = new LagProbe(src, dests).start()
  const router = await openRouter(c)
  const wf = await workflowOf(c.store)
  const sampler = new ProcSampler({'node (bench: load generator)': process.pid, ...o.pids}, 200).start()
  const steps: LagStep[] = []
  try {
    const base = Math.max(200, o.baselineRate)
    // Fractions of the generator's own maximum, then as fast as it goes (0 = unlimited).
    const plan = [0.25, 0.5, 0.75].map((f) => Math.round((base * f) / 50) * 50).concat([0])
    const step = async (target: number): Promise<LagStep> => {
      await probe.drained(30_000)
      let reported = 0
      const watch = setInterval(async () => {
        const rec = await c.store.get<StreamsRecord>(workflowStreamsPath(wf.id)).catch(() => undefined)
        for (const s of rec?.value.streams ?? []) reported = Math.max(reported, s.lagSeconds ?? 0)
      }, 500)
      const t0 = Date.now()
      let s: LoadSummary
      try {
        s = await runLoad({
          keyspace: KEYSPACE,
          router,
          rate: target,
          durationMs: o.stepSeconds * 1000,
          concurrency: LOAD_CONCURRENCY,
          messageBytes: 100,
        })
      } finally {
        clearInterval(watch)
      }
      const t1 = Date.now()
      // Probes of the step's last moments need a little time to resolve.
      await probe.drained(2_000)
      const lag = probe.window(t0, t1)
      const cpu = coresUsed(sampler.cpuBetween(t0, t1))
      const saturated = target > 0 && s.ratePerSec < 0.9 * target
      const passed = lag.maxMs < 1000 && s.errors === 0
      const r: LagStep = {
        target,
        achieved: s.ratePerSec,
        lag,
        reportedLagS: reported,
        errors: s.errors,
        cpu,
        passed,
        saturated,
      }
      log(
        `  steady lag at ${target ? `${target}/s` : 'unlimited'}: achieved ${fmt(s.ratePerSec)} writes/s, lag max ${Math.round(lag.maxMs)} ms (p50 ${Math.round(lag.p50Ms)}, p99 ${Math.round(lag.p99Ms)}; shardform reported up to ${reported.toFixed(1)} s), ${s.errors} errors → ${passed ? 'under 1 s' : 'NOT under 1 s'}${saturated ? ' (generator saturated)' : ''}; CPU ${describeCpu(sampler.cpuBetween(t0, t1))}`,
      )
      steps.push(r)
      return r
    }
    let lastPass: LagStep | undefined
    for (const target of plan) {
      const r = await step(target)
      if (!r.passed) {
        // Bisect once between the last rate that held and this one.
        const hi = target || r.achieved
        const lo = lastPass?.achieved ?? 0
        if (hi - lo > 200) {
          const mid = Math.round((lo + hi) / 2 / 50) * 50
          const m = await step(mid)
          if (m.passed) lastPass = m
        }
        break
      }
      lastPass = r
      if (r.saturated) break
    }
    const best = steps.filter((s) => s.passed).sort((a, b) => b.achieved - a.achieved)[0]
    return {best, steps}
  } finally {
    sampler.stop()
    await probe.stop()
    await router.close()
    for (const d of dests) await d.end().catch(() => undefined)
    await src.end().catch(() => undefined)
  }
}

export function pidMap(c: TestCluster, aliases: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, alias] of Object.entries(aliases)) out[name] = pidOf(c, alias)
  return out
}
