// Issue 12's benchmarks on one cluster and one workflow (a 1 → 2 split left waiting at the diff gate, streams running):
//   1. lag while `shardform apply` runs the streams in-process, then while a `shardform server` runs them and no CLI
//      runs: probe rows written on the source, timed until they are readable on their destination, under a steady writer;
//   2. takeover after `kill -9` of the server running a stream (its work-item claim while the workflow waits): kill →
//      a probe row into that stream's key range, written right after the kill, is readable on its destination, beside
//      the lease TTL; with the servers under their own host names (a dead holder is noticed only when its lease
//      expires, as across hosts) and on one host (a dead pid is noticed at once).
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {readItems} from '../src/engine/work-items.js'
import {openGate} from '../src/engine/workflow.js'
import type {TestCluster} from '../test/helpers/cluster.js'
import {gatedLayout} from '../test/helpers/fault-cluster.js'
import {canFakeHost, cli, cliOk, KEYSPACE, pidOf, stopChild, workflowOf, type CliRun} from './lib/cluster.js'
import {log} from './lib/out.js'
import {percentiles, Prober, SteadyWriter, type Percentiles} from './lib/probes.js'
import {coresUsed, describeCpu, ProcSampler} from './lib/proc.js'

const SOURCE = 'src-100'
const LOW = 'dst-200'
const HIGH = 'dst-300'

export interface ServerBenchOptions {
  rows: number
  /** Steady writer on the source (writes/s). */
  rate: number
  /** Seconds of probes per lag measurement. */
  seconds: number
  probeMs: number
  /** --lock-ttl of the servers (s). */
  ttl: number
  /** kill -9 repetitions per mode. */
  kills: number
}

export interface LagRun extends Percentiles {
  lost: number
  cpu: Record<string, number>
  cpuText: string
}

export interface Takeover {
  killed: string
  by: string
  /** kill → the lock names another server (ms). */
  lockMs?: number
  /** kill → a probe row written right after the kill is on its destination (ms). */
  probeMs: number
}

export interface ServerBenchResult {
  ttlSeconds: number
  rate: number
  written: number
  writeErrors: number
  apply: LagRun
  server: LagRun
  /** Servers under their own host names (lease expiry), and on one host (dead pid noticed); undefined when skipped. */
  takeovers: {hosts?: Takeover[]; sameHost?: Takeover[]}
}

async function until<T>(fn: () => T | undefined | Promise<T | undefined>, what: string, ms = 300_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** The split layout with one gate, before the diff: the workflow waits there with its streams running. */
async function waitingAtDiff(c: TestCluster): Promise<boolean> {
  const wf = await workflowOf(c.store).catch(() => undefined)
  return wf?.state === 'waiting' && openGate(wf)?.phase === 'diff'
}

const holder = async (c: TestCluster) => (await c.store.readLock(KEYSPACE))?.server

/** The server running the stream into `dest` (its work-item claim), else the workflow's holder (the driver). */
async function streamHolder(c: TestCluster, dest: string): Promise<string | undefined> {
  const wf = (await c.store.list<{id: string; state: string}>('workflows/')).find(
    (e) => e.path.endsWith('/Workflow') && e.value.state !== 'done',
  )
  if (!wf) return holder(c)
  const {claims} = await readItems(c.store, wf.value.id)
  const shard = dest === LOW ? '-80' : '80-'
  const claim = [...claims.entries()].find(([key]) => key.endsWith(`->${shard}`))?.[1]
  return claim?.server ?? holder(c)
}

export async function serverBench(c: TestCluster, o: ServerBenchOptions): Promise<ServerBenchResult> {
  const pids: Record<string, number> = {}
  for (const a of [SOURCE, LOW, HIGH]) pids[a] = pidOf(c, a)
  const prober = await new Prober(c, {source: SOURCE, low: LOW, high: HIGH}).start()
  const writer = await new SteadyWriter(c, SOURCE, o.rate).start()
  const servers = new Map<string, CliRun>()
  let apply: CliRun | undefined
  /** Probe rows for o.seconds; CPU of the instances, this process and `procs` (the live shardform processes). */
  const lagRun = async (label: string, procs: Record<string, number>): Promise<LagRun> => {
    const sampler = new ProcSampler({'node (bench: writer, probes)': process.pid, ...pids, ...procs}, 200).start()
    const t0 = Date.now()
    const r = await prober.series(o.seconds, o.probeMs)
    const split = sampler.stop().cpuBetween(t0, Date.now())
    const p = percentiles(r.lags)
    log(
      `${label}: ${p.count} probes, lag p50 ${p.p50Ms} ms, p99 ${p.p99Ms} ms, max ${p.maxMs} ms${r.lost ? `, ${r.lost} never arrived` : ''}; CPU ${describeCpu(split)}`,
    )
    return {...p, lost: r.lost, cpu: coresUsed(split), cpuText: describeCpu(split)}
  }
  let n = 0
  const startServer = async (host?: string): Promise<string> => {
    const id = `s${++n}`
    const run = cli(c, ['server', '--id', id, '--lock-ttl', String(o.ttl)], host ? {host} : {})
    servers.set(id, run)
    await until(() => {
      if (run.proc.exitCode !== null) throw new Error(`server ${id} exited: ${run.stdout}${run.stderr}`)
      return run.stdout.includes(`server ${id} registered`)
    }, `server ${id} to start`)
    return id
  }
  try {
    // 1b. In-process apply: clone, then it waits at the diff gate (no TTY: it waits for `shardform approve`).
    const plan = join(c.dir, 'server-split.plan')
    await cliOk(
      c,
      ['plan', gatedLayout(c, 1, 'server-split.yaml', 'default: none\nphases:\n  diff: phase\n'), '--out', plan],
      [0, 2],
    )
    apply = cli(c, ['apply', plan, '--json'])
    await until(() => waitingAtDiff(c), 'apply to wait at the diff gate')
    await (
      await prober.probe()
    ).arrived // the streams run
    await sleep(2000)
    const inProcess = await lagRun(`apply in-process at the diff gate, ${o.rate} writes/s`, {
      'node (apply: streams)': apply.pid,
    })
    await stopChild(apply.proc)
    log(`apply stopped (${(await apply.done).code}); starting two servers`)

    // 1a. Two servers, no CLI: one resumes the workflow and waits at the same gate with the streams.
    const fake = canFakeHost()
    const host = (i: number) => (fake ? `bench-host-${i}` : undefined)
    await startServer(host(1))
    await startServer(host(2))
    await until(() => holder(c), 'a server to claim the workflow')
    await until(() => waitingAtDiff(c), 'the server to wait at the diff gate')
    await (
      await prober.probe()
    ).arrived
    await sleep(2000)
    const withServer = await lagRun(
      `server at the diff gate, no CLI, ${o.rate} writes/s`,
      Object.fromEntries([...servers].map(([id, run]) => [`node (server ${id})`, run.pid])),
    )

    // 2. kill -9 of the server running the stream into LOW (a work item while the workflow waits), o.kills times per
    // mode; a new server replaces each killed one. The probe goes into that stream's key range.
    const killLoop = async (mode: string, hostOf: () => string | undefined): Promise<Takeover[]> => {
      const out: Takeover[] = []
      for (let i = 0; i < o.kills; i++) {
        const killed = await until(() => streamHolder(c, LOW), 'a server running the stream')
        await (
          await prober.probe(LOW)
        ).arrived
        await sleep(1000)
        const run = servers.get(killed)!
        const t0 = Date.now()
        run.proc.kill('SIGKILL')
        const probeAt = Date.now()
        const {arrived} = await prober.probe(LOW)
        let lockMs: number | undefined
        let by = '?'
        const lock = until(
          async () => {
            const h = await streamHolder(c, LOW)
            if (h && h !== killed) {
              lockMs ??= Date.now() - t0
              by = h
            }
            return h && h !== killed
          },
          'another server to take the stream',
          120_000,
        )
        const probeMs = (await arrived) + (probeAt - t0)
        await lock
        servers.delete(killed)
        await run.done
        out.push({killed, by, lockMs, probeMs})
        log(
          `${mode}: kill -9 of ${killed}: ${by} runs the stream after ${lockMs} ms, a probe arrived after ${probeMs} ms`,
        )
        await startServer(hostOf())
      }
      return out
    }
    const takeovers: ServerBenchResult['takeovers'] = {}
    if (fake) takeovers.hosts = await killLoop('own host names', () => host(n + 1))
    else log('not root: no separate host names (unshare --uts); only the same-host takeover is measured')
    // Same host: two servers without host names replace the others, which hand the workflow back (SIGTERM).
    const old = [...servers.keys()]
    await startServer()
    await startServer()
    for (const id of old) {
      await stopChild(servers.get(id)!.proc)
      servers.delete(id)
    }
    await until(async () => {
      const h = await holder(c)
      return h && servers.has(h)
    }, 'a same-host server to take the workflow')
    takeovers.sameHost = await killLoop('one host', () => undefined)
    return {
      ttlSeconds: o.ttl,
      rate: o.rate,
      written: writer.written,
      writeErrors: writer.errors,
      apply: inProcess,
      server: withServer,
      takeovers,
    }
  } finally {
    await writer.stop()
    await prober.stop()
    if (apply) await stopChild(apply.proc)
    for (const s of servers.values()) await stopChild(s.proc)
  }
}
