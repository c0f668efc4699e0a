// Issue 12, items 2 and 3: streams, clones and diffs are work items any live server runs (the diffs of a group started
// together as a bundle on one server, for their shared scan). Two `shardform server`s, a 1 → 4 split under
// load through the router applied with `apply --detach`. At the migrate_replica gate the driver hands the four streams
// out and each server runs at least one (their item claims, and `status --json`/`server list --json`, say who). Then
// kill -9 of the server that is not the driver while it runs streams and the load writes: the other server takes
// them over from the stored positions; a third server that joins gets half of them. Approved to the end (the reverse
// streams are handed out at the retire_sources gate too, and SIGTERM of s3 hands its share to the other): `load
// verify` finds nothing lost, duplicated or misplaced, and every bulk row is once on its shard.
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {collectStatus} from '../../src/engine/status.js'
import {parseItemPath, type StreamItem} from '../../src/engine/work-items.js'
import {itemClaimsOf} from '../../src/server/registry.js'
import {workflowsPrefix} from '../../src/topo/paths.js'
import {startLoad} from '../helpers/cli.js'
import {CliSession, poll as until} from '../helpers/cli-session.js'
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

const ROWS = 20_000
let c: TestCluster
const cli = new CliSession(() => c)
const run = (args: string[]) => cli.run(args)

beforeAll(async () => {
  assertBuilt()
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('4-shards.yaml')], {init: 0, schema: true})
  await bulkLoad(c, ROWS)
}, 240_000)

afterAll(async () => {
  await cli.killAll()
  await c?.stop()
})

/** The workflow's items (key → item) and who claims each (key → server), from the topology. */
async function items(wf: string): Promise<{items: Map<string, StreamItem>; claims: Map<string, string>}> {
  const entries = await c.store.list<unknown>(workflowsPrefix())
  const out = new Map<string, StreamItem>()
  for (const e of entries) {
    const p = parseItemPath(e.path)
    if (p?.workflow === wf && p.kind === 'Item') out.set(p.key, e.value as StreamItem)
  }
  const claims = new Map<string, string>()
  for (const [server, list] of itemClaimsOf(entries))
    for (const x of list) if (x.workflow === wf) claims.set(x.stream, server)
  return {items: out, claims}
}

/** Every item of the given direction wanted running and claimed; stream id → server. */
async function allClaimed(wf: string, reverse: boolean): Promise<Map<string, string> | undefined> {
  const {items: all, claims} = await items(wf)
  const mine = [...all.values()].filter((i) => i.reverse === reverse)
  if (mine.length !== 4 || mine.some((i) => i.desired !== 'running' || !claims.has(i.stream))) return undefined
  return new Map(mine.map((i) => [i.stream, claims.get(i.stream)!]))
}

/** The streams `status` shows (read in this process: polled often). */
async function statusStreams(): Promise<StatusStream[]> {
  return (await collectStatus(c.store, KS)).flatMap((w) => (w.streams?.streams ?? []) as StatusStream[])
}

interface StatusStream {
  id: string
  state: string
  server?: string
}

interface StatusDoc {
  workflows: Array<{streams?: {streams: StatusStream[]}}>
}

it(
  'each of two servers runs streams of a 1 → 4 split; kill -9 of one hands them to the other',
  {timeout: 400_000},
  async () => {
    const layout = gatedLayout(
      c,
      1,
      'split.yaml',
      'default: none\nphases:\n  migrate_replica: phase\n  retire_sources: phase\n',
    )
    const journal = join(c.dir, 'load.journal')
    const load = startLoad(
      KS,
      ['--rate', '60', '--concurrency', '3', '--journal', journal, '--buffer-window', '30'],
      c.env,
    )
    const servers: Record<string, Cli> = {}
    for (const id of ['s1', 's2']) {
      servers[id] = run(['server', '--id', id, '--lock-ttl', '5'])
      await servers[id].waitFor(new RegExp(`server ${id} registered`), 30_000)
    }
    const planFile = join(c.dir, 'split.plan')
    const p = await run(['plan', layout, '--out', planFile]).exited
    expect(p.code, p.stderr).toBe(0)
    const a = await run(['apply', planFile, '--detach']).exited
    expect(a.code, a.stderr).toBe(0)

    // At the migrate_replica gate (after clone, wait and diff) the driver hands the four streams out.
    await cli.gateOpenAt('migrate_replica')
    const wfId = (await openWorkflow(c))!.id
    const driver = (await c.store.readLock(KS))!.server!
    // Clone and diff ran as work items: the four diffs of the group, started together (one cohort), went to one server
    // as a bundle and shared one ordered scan of the source (issue 15).
    const events = (await workflowById(c, wfId)).events
    const ranOn = (prefix: string) =>
      new Set(
        events
          .filter((e) => e.type === 'log' && e.task?.startsWith(prefix) && e.message.startsWith('runs on server '))
          .map((e) => e.message.split(' ')[3]),
      )
    injected(`clone ran on ${[...ranOn('clone/')].join(', ')}; diffs on ${[...ranOn('diff/')].join(', ')}`)
    expect(ranOn('clone/').size).toBe(1)
    expect(ranOn('diff/').size).toBe(1)
    // That scan read the source's rdonly, never its primary.
    const reads = events.filter((e) => e.task?.startsWith('diff/') && / held at /.test(e.message)).map((e) => e.message)
    expect(reads).toHaveLength(4)
    for (const r of reads)
      expect(r).toMatch(/read on rdonly test-102\); one scan of 0 compares 4 destination\(s\): -40, 40-80, 80-c0, c0-/)
    const first = await until(async () => {
      const m = await allClaimed(wfId, false)
      return m && new Set(m.values()).size === 2 ? m : undefined
    })
    injected(`streams at the gate: ${[...first].map(([s, v]) => `${s} on ${v}`).join(', ')} (driver ${driver})`)

    // status --json and server list --json say the same: which server runs each stream.
    await until(async () => {
      const streams = await statusStreams()
      return streams.length === 4 && streams.every((s) => s.state === 'running' && s.server === first.get(s.id))
    })
    const {workflows: all} = await cli.json<StatusDoc>(['status', KS])
    const st = all.flatMap((w) => w.streams?.streams ?? [])
    expect(st.map((s) => [s.id, s.server]).sort()).toEqual([...first].sort())
    const listed = await cli.json<{servers: Array<{id: string; streams: Array<{stream: string}>}>}>(['server', 'list'])
    for (const s of listed.servers)
      expect(s.streams.map((x) => x.stream).sort()).toEqual(
        [...first]
          .filter(([, v]) => v === s.id)
          .map(([k]) => k)
          .sort(),
      )

    // kill -9 of the server that runs streams but does not drive: the driver's server takes them over.
    const victim = driver === 's1' ? 's2' : 's1'
    servers[victim]!.proc.kill('SIGKILL')
    await servers[victim]!.exited
    injected(
      `kill -9 of server ${victim} while it ran ${[...first.values()].filter((v) => v === victim).length} stream(s)`,
    )
    await until(async () => {
      const m = await allClaimed(wfId, false)
      return m && [...m.values()].every((v) => v === driver)
    })
    await until(async () => {
      const streams = await statusStreams()
      return streams.length === 4 && streams.every((s) => s.state === 'running' && s.server === driver)
    })

    // A new server gets its share: the one running all four hands two back, one at a time.
    servers.s3 = run(['server', '--id', 's3', '--lock-ttl', '5'])
    await servers.s3.waitFor(/server s3 registered/, 30_000)
    const shared = await until(async () => {
      const m = await allClaimed(wfId, false)
      const on = (id: string) => [...(m?.values() ?? [])].filter((v) => v === id).length
      return m && on(driver) === 2 && on('s3') === 2 && m
    })
    injected(`after s3 joined: ${[...shared].map(([k, v]) => `${k} on ${v}`).join(', ')}`)

    // Through to the end (the driver takes the streams back from s3 for the phases that need them); the reverse
    // streams are handed out at the retire_sources gate as well, to both servers.
    await cli.approve('migrate_replica')
    await cli.gateOpenAt('retire_sources')
    const reverse = await until(async () => {
      const m = await allClaimed(wfId, true)
      return m && new Set(m.values()).size === 2 && m
    })
    expect(new Set(reverse.values())).toEqual(new Set([driver, 's3']))
    // SIGTERM of s3: it stops its streams at committed positions and releases them; the driver's server takes them.
    servers.s3!.proc.kill('SIGTERM')
    expect((await servers.s3!.exited).code).toBe(0)
    expect(servers.s3!.stdout).toMatch(/handed back stream .*: server s3 is stopping/)
    await until(async () => {
      const m = await allClaimed(wfId, true)
      return m && [...m.values()].every((v) => v === driver)
    })
    await cli.approve('retire_sources')
    const done = await until(async () => {
      const wf = await workflowById(c, wfId)
      return wf.state === 'done' && wf
    })
    expect(recordProblems(done)).toEqual([])
    // A finished workflow leaves no items behind.
    await until(async () => (await items(wfId)).items.size === 0)

    await sleep(1000)
    const {summary, code, stderr} = await load.stop()
    console.log(`load: ${summary.acknowledged} acknowledged, ${summary.errors} errors`)
    expect(summary.errors, JSON.stringify(summary.firstErrors)).toBe(0)
    expect(code, stderr).toBe(0)
    const v = await run(['load', 'verify', '--journal', journal, KS]).exited
    expect(v.code, v.stdout + v.stderr).toBe(0)
    await checkBulkRows(c, ROWS)

    servers[driver]!.proc.kill('SIGTERM')
    expect((await servers[driver]!.exited).code).toBe(0)
  },
)
