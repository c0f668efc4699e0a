// Fencing of a clone run as a work item (issue 12, must-show 6 for tasks): two `shardform server`s, a 1 → 2 split whose
// clone is held by the source throttle (its replica lags) with its rdonly snapshot taken. The server running the clone
// is SIGSTOPped past its lease; the clone is handed out again and the other server continues it from the same frozen
// snapshot once the throttle lifts; the stopped server is SIGCONTed. It writes nothing more (its checkpoint and
// chunks are refused), says why, leaves the rdonly to the run that took over, and the split ends with every row once
// on its shard and the rdonly replicating again.
import {join} from 'node:path'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {taskClaimPath} from '../../src/engine/task-items.js'
import type {LockRecord} from '../../src/topo/records.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {CliSession, poll as until} from '../helpers/cli-session.js'
import {assertBuilt, type Cli} from '../helpers/engine-cli.js'
import {
  bulkLoad,
  checkBulkRows,
  delayReplica,
  gatedLayout,
  injected,
  KS,
  openWorkflow,
  startFaultCluster,
  workflowById,
} from '../helpers/fault-cluster.js'

const ROWS = 20_000
let c: TestCluster
const cli = new CliSession(() => c)
const run = (args: string[]) => cli.run(args)

beforeAll(async () => {
  assertBuilt()
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await bulkLoad(c, ROWS)
}, 240_000)

afterAll(async () => {
  await cli.killAll()
  await c?.stop()
})

async function slaveRunning(alias: string): Promise<boolean> {
  const [st] = await c.query<{Slave_SQL_Running: string}>(alias, 'SHOW SLAVE STATUS', [], 'admin')
  return st?.Slave_SQL_Running === 'Yes'
}

it(
  'a clone claimant paused past its lease writes nothing once resumed; another server finished it',
  {timeout: 300_000},
  async () => {
    const layout = gatedLayout(c, 1, 'split.yaml', 'default: none\n', 'throttleReplicaLagSeconds: 1\n')
    // The replica lags (a write it holds back): the clone takes its snapshot, then waits in the throttle.
    await delayReplica(c, 'test-101', 3600)
    await c.query('test-100', 'INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)', [
      9_000_001,
      1,
      'held back',
    ])
    const servers: Record<string, Cli> = {}
    for (const id of ['s1', 's2']) {
      servers[id] = run(['server', '--id', id, '--lock-ttl', '3'])
      await servers[id].waitFor(new RegExp(`server ${id} registered`), 30_000)
    }
    const planFile = join(c.dir, 'split.plan')
    expect((await run(['plan', layout, '--out', planFile]).exited).code).toBe(0)
    const a = await run(['apply', planFile, '--detach']).exited
    expect(a.code, a.stderr).toBe(0)
    const wfId = (await until(() => openWorkflow(c)))!.id
    const claimOf = async () =>
      (await c.store.get<LockRecord & {server?: string; expires?: number}>(taskClaimPath(wfId, 'clone/0')))?.value
        .server
    const first = await until(claimOf)
    await until(async () => {
      const wf = await workflowById(c, wfId)
      return wf.tasks['clone/0']?.progress?.message?.startsWith('throttled') && wf.tasks['clone/0'].checkpoint
    })
    const driver = (await c.store.readLock(KS))?.server
    const stale = servers[first]!
    const other = first === 's1' ? 's2' : 's1'
    stale.proc.kill('SIGSTOP')
    injected(`SIGSTOP of server ${first} while it ran clone/0 (held by the throttle; driver ${driver})`)

    // Its claim ends with its lease: the clone is handed out again, and the other server runs it.
    await until(async () => (await claimOf()) === other)
    await delayReplica(c, 'test-101', 0)
    injected(`${other} claimed clone/0; the replica catches up`)
    await until(async () => (await workflowById(c, wfId)).tasks['clone/0']?.state === 'done')
    stale.proc.kill('SIGCONT')
    injected(`SIGCONT of server ${first}`)

    const done = await until(async () => {
      const wf = await workflowById(c, wfId)
      return wf.state === 'done' && wf
    })
    // The run that took over continued the copy from the snapshot the stopped one had taken.
    const logs = done.events.filter((e) => e.task === 'clone/0').map((e) => e.message)
    expect(logs.some((m) => m === `runs on server ${other}`)).toBe(true)
    expect(logs.some((m) => /^continuing the copy from the snapshot at GTID/.test(m))).toBe(true)
    // The stale server stopped the clone and said why.
    await until(() => /task clone\/0 of workflow \S+: stopped \(/.test(stale.stdout))
    // Whichever it noticed first: its lease was gone (registration or claim), or its next write was refused.
    expect(stale.stdout).toMatch(
      /registration lost: .*lease has expired|its claim was lost|is no longer run by|taken over by another run|its driver no longer hands it out/,
    )
    // Every row once, on its shard (but the one written to make the replica lag); the rdonly replicates again.
    for (const alias of ['test-200', 'test-300']) await c.query(alias, 'DELETE FROM messages WHERE page = 9000001')
    await checkBulkRows(c, ROWS, {on: {'-80': 'test-200', '80-': 'test-300'}})
    expect(await slaveRunning('test-102')).toBe(true)
    // A server whose registration lease ran out exits with the reason (its supervisor restarts it); the other stops
    // cleanly on SIGTERM.
    expect((await stale.exited).code).toBe(1)
    expect(stale.stdout).toMatch(/registration lost/)
    servers[other]!.proc.kill('SIGTERM')
    expect((await servers[other]!.exited).code).toBe(0)
  },
)
