// Fencing (issue 12, must-show 6): an apply running filtered replication under load is SIGSTOPped past its lock's
// lease; a second apply takes the workflow over and its streams run; the first is SIGCONTed. It applies nothing more
// (its batch is refused by the destinations and rolled back), it says which stream another applier took over, and in
// the end every acknowledged write is in place exactly once (the diff passes, `load verify` finds nothing wrong).
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {parseGtidPos, reached} from '../../src/mysql/gtid.js'
import {startLoad} from '../helpers/cli.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {assertBuilt, type Cli} from '../helpers/engine-cli.js'
import {cliProc, injected, KS, openWorkflow, startFaultCluster, gatedLayout} from '../helpers/fault-cluster.js'

let c: TestCluster
const DESTS = {'-80': 'test-200', '80-': 'test-300'} as const

beforeAll(async () => {
  assertBuilt()
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await c.query(
    'test-100',
    `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, CONCAT('bulk ', seq) FROM seq_1_to_2000`,
  )
  await c.waitReplication()
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

interface StreamRow {
  owner: string
  position: string
  transactions: number
}

async function streamRow(alias: string): Promise<StreamRow | undefined> {
  const rows = await c.query<Record<string, unknown>>(
    alias,
    `SELECT owner, position, transactions FROM _shardform.streams WHERE id = ?`,
    [`${KS}/0->${alias === 'test-200' ? '-80' : '80-'}`],
  )
  const r = rows[0]
  return r ? {owner: String(r.owner), position: String(r.position), transactions: Number(r.transactions)} : undefined
}

/** Poll until `cond` holds (the test's own timeout bounds it); fails at once if `proc` ended meanwhile. */
async function until(what: string, cond: () => Promise<boolean>, proc?: Cli): Promise<void> {
  for (let i = 0; ; i++) {
    if (await cond()) return
    if (proc?.done) throw new Error(`apply ended while waiting for ${what}:\n${proc.stdout}\n${proc.stderr}`)
    if (i % 50 === 49) console.log(`still waiting for ${what}:\n${proc?.stdout.slice(-600) ?? ''}`)
    await sleep(200)
  }
}

const ownedBy = (pid: number) => async () => {
  for (const alias of Object.values(DESTS)) if (!(await streamRow(alias))?.owner.includes(`:${pid}:`)) return false
  return true
}

it('a stale apply resumed after another took over applies nothing and says why', {timeout: 300_000}, async () => {
  const layout = gatedLayout(c, 1, 'gated.yaml', 'default: none\nphases:\n  diff: phase')
  const planFile = join(c.dir, 'gated.plan')
  const planned = await cliProc(c, ['plan', layout, '--out', planFile]).exited
  expect(planned.code, planned.stdout + planned.stderr).toBe(0)
  const journal = join(c.dir, 'fencing.journal')
  const load = startLoad(KS, ['--rate', '100', '--concurrency', '4', '--journal', journal], c.env)

  // A: runs to the diff gate and waits there with both streams running.
  const a = cliProc(c, ['apply', planFile, '--lock-ttl', '2'])
  await until(
    'the first apply at the diff gate',
    async () => {
      const wf = await openWorkflow(c)
      return !!wf && wf.tasks['diff/-80']?.state === 'waiting_approval'
    },
    a,
  )
  await until('the first apply to own both streams', ownedBy(a.proc.pid!), a)
  const beforeStop = await streamRow('test-200')
  a.proc.kill('SIGSTOP')
  injected(`SIGSTOP of apply A (pid ${a.proc.pid}); its streams were at ${beforeStop?.transactions} transaction(s)`)

  // B: waits for A's lease to run out, resumes the workflow, claims both streams and applies.
  const b = cliProc(c, ['apply', planFile, '--lock-ttl', '2', '--lock-timeout', '60s'])
  await until('the second apply to own both streams', ownedBy(b.proc.pid!), b)
  const claimed = await streamRow('test-200')
  await until(
    'the second apply to apply a transaction',
    async () => (await streamRow('test-200'))!.transactions > claimed!.transactions,
  )

  // B publishes lag in ms, measured from heartbeats, in status --json and status.
  await until('status --json to show heartbeat lag of both streams', async () => {
    const p = cliProc(c, ['status', KS, '--json'])
    const kill = setTimeout(() => p.proc.kill('SIGKILL'), 30_000)
    const st = await p.exited
    clearTimeout(kill)
    console.log(`status --json: ${st.code} ${st.stdout.slice(-800)} ${st.stderr.slice(-800)}`)
    const wf = (JSON.parse(st.stdout) as {workflows: Array<{streams?: {streams: Array<Record<string, unknown>>}}>})
      .workflows[0]
    const streams = wf?.streams?.streams ?? []
    return streams.length === 2 && streams.every((s) => s.lagFrom === 'heartbeat' && Number.isInteger(s.lagMs))
  })
  const text = await cliProc(c, ['status', KS]).exited
  console.log(
    text.stdout
      .split('\n')
      .filter((l) => / → /.test(l))
      .join('\n'),
  )
  expect(text.stdout).toMatch(/0 → -80 +running {2}lag \d+ ms/)

  // A resumes: its binlog readers hold events read before the stop; the destinations refuse its batches.
  a.proc.kill('SIGCONT')
  injected(`SIGCONT of apply A (pid ${a.proc.pid})`)
  const ra = await a.exited
  console.log(`apply A exited ${ra.code}:\n${ra.stdout.slice(-1500)}\n${ra.stderr.slice(-1500)}`)
  expect(ra.code).not.toBe(0)
  const out = ra.stdout + ra.stderr
  expect(out).toMatch(
    /filtered replication 0 → (-80|80-) stopped here: another applier \(\S+:\d+:\w+\) took over stream/,
  )
  expect(out).toContain(`:${b.proc.pid}:`)
  expect(out).not.toMatch(/Duplicate entry|TypeError| {4}at /)
  // B still owns both streams and keeps applying.
  expect(await ownedBy(b.proc.pid!)()).toBe(true)

  // Nothing was lost or applied twice: once the streams caught up, the destinations hold exactly the source's rows.
  const {summary, code, stderr} = await load.stop()
  expect(code, stderr).toBe(0)
  expect(summary.errors, JSON.stringify(summary.firstErrors)).toBe(0)
  const [src] = await c.query<{p: string}>('test-100', 'SELECT @@gtid_binlog_pos AS p')
  const target = parseGtidPos(String(src!.p))
  for (const alias of Object.values(DESTS))
    await until(`${alias} to catch up`, async () => reached(parseGtidPos((await streamRow(alias))!.position), target))
  const [{n: sourceRows}] = await c.query<{n: number}>('test-100', 'SELECT COUNT(*) AS n FROM messages')
  let destRows = 0
  for (const alias of Object.values(DESTS)) {
    const [r] = await c.query<{n: number; d: number}>(
      alias,
      'SELECT COUNT(*) AS n, COUNT(DISTINCT page, time_created_ns) AS d FROM messages',
    )
    expect(Number(r!.d), `${alias}: each row once`).toBe(Number(r!.n))
    destRows += Number(r!.n)
  }
  console.log(`source ${sourceRows} rows, destinations ${destRows}; load acknowledged ${summary.acknowledged}`)
  expect(destRows).toBe(Number(sourceRows))

  // B finishes the workflow once the gate is approved: the diff compares every row, load verify the journal.
  const ok = await cliProc(c, ['approve', KS]).exited
  expect(ok.code, ok.stdout + ok.stderr).toBe(0)
  const rb = await b.exited
  expect(rb.code, `${rb.stdout.slice(-3000)}\n${rb.stderr}`).toBe(0)
  const v = await cliProc(c, ['load', 'verify', '--journal', journal, KS]).exited
  console.log(v.stdout.trim())
  expect(v.code, v.stdout + v.stderr).toBe(0)
})
