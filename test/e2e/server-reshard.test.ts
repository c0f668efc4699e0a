// Issue 12 on a real cluster: two `shardform server`s run a 1 → 2 split of the guestbook under load through the router,
// applied with `apply --detach` and approved gate by gate with `shardform approve` after pauses, with no CLI running in
// between. Shown: kill -9 of the server driving the workflow mid-phase (the other resumes it); for 30 s after
// migrate_replica, probe rows written to the source arrive on their destination (read there directly); after
// migrate_primary, at the retire_sources gate, probe rows written to the new shards arrive on the old one (reverse
// replication); SIGTERM of the server holding the workflow in each of those waits (another takes over); then, still at
// that gate, a revert of the layout through the servers (the apply asks the holder to hand the keyspace back) completes:
// shard 0 serves everything again, the client saw no error, `load verify` is clean. Moments are chosen by records and log lines.
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {srvKeyspacePath} from '../../src/topo/paths.js'
import {keyspaceIds} from '../../src/keyspace/vindexes/index.js'
import {startLoad} from '../helpers/cli.js'
import {CliSession, poll} from '../helpers/cli-session.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {assertBuilt, type Cli} from '../helpers/engine-cli.js'
import {
  bulkLoad,
  checkBulkRows,
  injected,
  KS,
  openWorkflow,
  recordProblems,
  startFaultCluster,
  gatedLayout,
  workflowById,
} from '../helpers/fault-cluster.js'

const ROWS = 100_000
const PROBE_SECONDS = 30
let c: TestCluster
const cli = new CliSession(() => c)
const run = (args: string[]) => cli.run(args)
const until = <T>(fn: () => T | undefined | Promise<T | undefined>, what: string) => poll(fn, what, 180_000)

beforeAll(async () => {
  assertBuilt()
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await bulkLoad(c, ROWS, {messageBytes: 250})
}, 240_000)

afterAll(async () => {
  await cli.killAll()
  await c?.stop()
})

/** The destination shard's primary for a page (hash vindex: -80 or 80-). */
function destinationOf(page: number): string {
  const [id] = keyspaceIds('hash', [BigInt(page)])
  return id![0]! < 0x80 ? 'test-200' : 'test-300'
}

let probeSeq = 0
/**
 * For `seconds`, write one probe row a second on `writeTo(page)` (as the application) and wait for each to be
 * readable on `readFrom(page)` (as admin, directly); `during` runs meanwhile (an injection). Returns arrival times (ms).
 */
async function probe(
  seconds: number,
  writeTo: (page: number) => string,
  readFrom: (page: number) => string,
  during?: () => Promise<void>,
): Promise<number[]> {
  const arrivals: Promise<number>[] = []
  const injecting = during?.()
  for (let i = 0; i < seconds; i++) {
    const page = 50_000_000 + ++probeSeq
    const ts = ROWS + probeSeq
    const conn = await c.connect(writeTo(page))
    const t0 = Date.now()
    try {
      await conn.query('INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)', [page, ts, 'probe'])
    } finally {
      await conn.end()
    }
    arrivals.push(
      until(
        async () => {
          const rows = await c.query(readFrom(page), 'SELECT 1 FROM messages WHERE page = ? AND time_created_ns = ?', [
            page,
            ts,
          ])
          return rows.length ? Date.now() - t0 : undefined
        },
        `probe row ${page} on ${readFrom(page)}`,
      ),
    )
    await sleep(1000)
  }
  await injecting
  return Promise.all(arrivals)
}

const holder = async () => (await c.store.readLock(KS))?.server

it(
  'servers run a split under load between approvals; kill -9 and SIGTERM hand it on; replication lives between gates',
  {timeout: 600_000},
  async () => {
    const layout = gatedLayout(
      c,
      1,
      'split.yaml',
      'default: none\nphases:\n  migrate_replica: phase\n  migrate_primary: phase\n  retire_sources: phase\n',
    )
    const journal = join(c.dir, 'load.journal')
    const load = startLoad(
      KS,
      ['--rate', '60', '--concurrency', '3', '--journal', journal, '--buffer-window', '30'],
      c.env,
    )
    const servers: Record<string, Cli> = {}
    const startServer = async (id: string) => {
      servers[id] = run(['server', '--id', id, '--lock-ttl', '5'])
      await servers[id].waitFor(new RegExp(`server ${id} registered`), 30_000)
    }
    await startServer('s1')
    await startServer('s2')

    const planFile = join(c.dir, 'split.plan')
    const p = await run(['plan', layout, '--out', planFile]).exited
    expect(p.code, p.stderr).toBe(0)
    const a = await run(['apply', planFile, '--detach']).exited
    expect(a.code, a.stderr).toBe(0)
    expect(a.stdout).toMatch(/recorded; the servers run it/)

    // (b) kill -9 of the driver while clone runs: the other server resumes it from the stored checkpoints.
    const first = await until(holder, 'a server to claim the workflow')
    await servers[first]!.waitFor(/clone\/0: started/, 120_000)
    await sleep(500)
    const wf0 = (await openWorkflow(c))!
    const running = Object.values(wf0.tasks)
      .filter((t) => t.state === 'running')
      .map((t) => t.id)
    servers[first]!.proc.kill('SIGKILL')
    await servers[first]!.exited
    injected(`kill -9 of server ${first} (driver) while [${running.join(', ')}] ran`)
    expect(running.length).toBeGreaterThan(0)
    const second = await until(async () => {
      const h = await holder()
      return h && h !== first ? h : undefined
    }, 'the other server to take over')
    await startServer('s3')

    // (d) SIGTERM of the driver while diff runs (streams held, a snapshot open): it stops at a committed position and
    // hands the workflow back; another server takes it over and the diff runs again.
    await servers[second]!.waitFor(/diff\/\S+: started/, 120_000)
    await sleep(300)
    servers[second]!.proc.kill('SIGTERM')
    expect((await servers[second]!.exited).code).toBe(0)
    injected(`SIGTERM of server ${second} (driver) during diff`)
    const third = await until(async () => {
      const h = await holder()
      return h && h !== second ? h : undefined
    }, 'another server to take over after SIGTERM in diff')
    await startServer('s5')

    // Paused at the migrate_replica gate for a while, then approved.
    await cli.gateOpenAt('migrate_replica')
    await sleep(2000)
    await cli.approve('migrate_replica')
    await cli.gateOpenAt('migrate_primary')

    // (a) No CLI runs: probe rows written to the source arrive on their destination, for PROBE_SECONDS; meanwhile (d)
    // SIGTERM of the server holding the workflow: another takes it over.
    const forward = await probe(
      PROBE_SECONDS,
      () => 'test-100',
      destinationOf,
      async () => {
        await sleep(8000)
        const h = (await holder())!
        servers[h]!.proc.kill('SIGTERM')
        expect((await servers[h]!.exited).code).toBe(0)
        injected(`SIGTERM of server ${h} at the migrate_primary gate`)
        await until(async () => {
          const x = await holder()
          return x && x !== h
        }, 'another server to take over after SIGTERM')
        await startServer('s4')
      },
    )
    console.log(
      `forward probes: ${forward.length} arrived; ms to arrive: median ${median(forward)}, max ${Math.max(...forward)}`,
    )

    await cli.approve('migrate_primary')
    await cli.gateOpenAt('retire_sources')

    // (c) Waiting at retire_sources: reverse replication keeps the old shard current; SIGTERM of the holder meanwhile.
    const reverse = await probe(
      15,
      destinationOf,
      () => 'test-100',
      async () => {
        await sleep(5000)
        const h = (await holder())!
        servers[h]!.proc.kill('SIGTERM')
        expect((await servers[h]!.exited).code).toBe(0)
        injected(`SIGTERM of server ${h} at the retire_sources gate`)
        await until(async () => {
          const x = await holder()
          return x && x !== h
        }, 'another server to take over after the second SIGTERM')
      },
    )
    console.log(
      `reverse probes: ${reverse.length} arrived; ms to arrive: median ${median(reverse)}, max ${Math.max(...reverse)}`,
    )

    // (e) Still at that gate, the operator reverts the layout: the apply asks the server holding the keyspace to hand
    // it back, records the revert (the forward workflow is cancelled in the same commit), and the servers run it.
    const oneShard = gatedLayout(c, 0, 'revert.yaml', 'default: none\n')
    const revertPlan = join(c.dir, 'revert.plan')
    const rp = await run(['plan', oneShard, '--out', revertPlan]).exited
    expect(rp.code, rp.stderr).toBe(0)
    expect(rp.stdout).toMatch(/revert/i)
    const ra = await run(['apply', revertPlan, '--detach']).exited
    expect(ra.code, ra.stdout + ra.stderr).toBe(0)
    expect(ra.stdout).toMatch(/Asking server \S+, which runs keyspace/)
    injected('reverted the layout at the retire_sources gate (apply --detach)')
    const forwardAfter = await workflowById(c, wf0.id)
    expect(forwardAfter.state).toBe('cancelled')
    expect(recordProblems(forwardAfter)).toEqual([])
    expect(forwardAfter.approvals.every((x) => x.via === 'approve')).toBe(true)
    const revertId = forwardAfter.events.map((e) => /reverted by workflow (\S+)/.exec(e.message)?.[1]).find(Boolean)!
    expect(revertId).toBeTruthy()
    const done = await until(async () => {
      const wf = await workflowById(c, revertId)
      return wf.state === 'done' ? wf : undefined
    }, 'the revert to finish')
    expect(recordProblems(done)).toEqual([])
    const partitions = (await c.store.get<{partitions: Record<string, string[]>}>(srvKeyspacePath(KS)))!.value
    expect(partitions.partitions).toEqual({primary: ['0'], replica: ['0'], rdonly: ['0']})
    const caughtUp = Object.values(done.tasks).filter((t) => t.id.startsWith('wait_for_filtered_replication'))
    console.log(
      `holders: first ${first}, after kill -9 ${second}, after SIGTERM in diff ${third}; forward tasks ${Object.values(
        forwardAfter.tasks,
      )
        .map((t) => `${t.id}×${t.attempts}`)
        .join(', ')}; revert ${revertId}: ${caughtUp.map((t) => `${t.id} ${JSON.stringify(t.output)}`).join(', ')}`,
    )

    await sleep(1000)
    const {summary, code, stderr} = await load.stop()
    console.log(`load: ${summary.acknowledged} acknowledged, ${summary.errors} errors`)
    expect(summary.errors, JSON.stringify(summary.firstErrors)).toBe(0)
    expect(code, stderr).toBe(0)
    const v = await run(['load', 'verify', '--journal', journal, KS]).exited
    expect(v.code, v.stdout + v.stderr).toBe(0)
    await checkBulkRows(c, ROWS)

    const live = Object.values(servers).filter((s) => !s.done)
    // Of the five servers started, one was killed and three were stopped with SIGTERM: one is left.
    expect(live.length).toBe(1)
    for (const s of live) s.proc.kill('SIGTERM')
    for (const s of live) expect((await s.exited).code).toBe(0)
  },
)

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.floor(s.length / 2)] ?? 0
}
