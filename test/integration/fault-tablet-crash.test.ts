// Fault (issue #8, 2): a destination primary's mariadbd killed (SIGKILL) in the middle of clone/0. The apply must
// fail the task with an error naming the tablet; once the instance is restarted (as `local up` restarts a stopped
// tablet), `shardform retry test_keyspace clone/0` completes the workflow, every diff passes and every row is in
// place exactly once.
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {copyTable} from '../../src/mysql/copy.js'
import {dataSession} from '../../src/mysql/session.js'
import {describeSchema} from '../../src/mysql/tables.js'
import {assertBuilt} from '../helpers/engine-cli.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {
  bulkLoad,
  checkBulkRows,
  cliProc,
  injected,
  killTablet,
  KS,
  openWorkflow,
  readOnly,
  restartStopped,
  startFaultCluster,
  workflows,
} from '../helpers/fault-cluster.js'

const ROWS = 300_000
let c: TestCluster

beforeAll(async () => {
  assertBuilt()
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  const t0 = Date.now()
  await bulkLoad(c, ROWS, {messageBytes: 200})
  console.log(`bulk-loaded ${ROWS} rows into test-100 in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
}, 240_000)

afterAll(async () => {
  await c?.stop()
})

it(
  'a destination primary killed mid-clone: clone/0 fails naming it; after a restart, retry completes and verifies',
  {timeout: 240_000},
  async () => {
    const victim = c.tablet('test-200')
    const apply = cliProc(c, ['apply', c.layoutFiles[1], '--auto-approve'])
    // The copy is under way once the snapshot is logged; give it a moment to write into the destinations.
    await apply.waitFor(/clone\/0: snapshot of 0/, 90_000)
    await sleep(800)
    expect(apply.done, apply.stdout + apply.stderr).toBe(false)
    const pid = await killTablet(c, 'test-200')
    injected(
      `SIGKILL of mariadbd of destination primary test-200 (${victim.host}:${victim.port}, pid ${pid}) during clone/0`,
    )

    const r = await apply.exited
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.stderr).toMatch(/clone\/0 \(attempt 1\):/)
    const error = r.stderr.split('\n').find((l) => l.includes('clone/0 (attempt 1):'))!
    console.log(`apply exited ${r.code}: ${error.trim()}`)
    expect(error).toMatch(new RegExp(`test-200|127\\.0\\.0\\.1:${victim.port}`))
    expect(r.stderr).toContain(`shardform retry ${KS} clone/0`)
    const wf = (await openWorkflow(c))!
    expect(wf.state).toBe('failed')
    expect(wf.tasks['clone/0']!.state).toBe('failed')
    expect(wf.tasks['clone/0']!.error).toMatch(/test-200/)
    // Nothing after the clone ran.
    expect(wf.tasks['diff/-80']!.state).toBe('pending')

    const restarted = await restartStopped(c)
    injected(`restart of ${restarted.join(', ')} on its data directory`)
    expect(restarted.map((s) => s.split(' ')[0])).toEqual(['test-200'])
    // copy_schema made the destination primary read_only; a restart forgets that (my.cnf of a primary says nothing).
    console.log(`test-200 read_only after its restart: ${await readOnly(c, 'test-200')}`)

    const t0 = Date.now()
    const retry = await cliProc(c, ['retry', KS, 'clone/0', '--auto-approve']).exited
    expect(retry.code, retry.stdout + retry.stderr).toBe(0)
    expect(retry.stdout).toContain('Apply complete!')
    // The interrupted copy's rdonly snapshot was released when the task failed: the retry starts over cleanly.
    expect(retry.stdout).toMatch(/clone\/0: the snapshot of the interrupted copy is gone; removing the rows it wrote/)
    console.log(`retry completed the workflow in ${((Date.now() - t0) / 1000).toFixed(1)} s`)

    const done = (await workflows(c)).find((w) => w.id === wf.id)!
    expect(done.state).toBe('done')
    for (const id of ['diff/-80', 'diff/80-']) {
      expect(done.tasks[id]!.state, id).toBe('done')
      expect(Number(done.tasks[id]!.output?.compared), id).toBeGreaterThan(ROWS / 3)
    }
    const counts = await checkBulkRows(c, ROWS)
    expect(Object.keys(counts)).toEqual(['-80', '80-'])
    // The source (retired, data left as it was) holds exactly what the new shards hold together.
    const [src] = await c.query<{n: number | string}>('test-100', 'SELECT COUNT(*) AS n FROM messages')
    expect(Number(src!.n)).toBe(counts['-80']! + counts['80-']!)
    console.log(`rows per shard: ${JSON.stringify(counts)}, source ${src!.n}`)
  },
)

it(
  'a destination connection that breaks while the next chunk waits for it: the error still names the tablet',
  {timeout: 60_000},
  async () => {
    // Deterministic form of the race above: the third LOAD DATA into the destination fails 30 ms after it is sent,
    // while the copy already waits for it to queue the fourth chunk (small chunks). That path once surfaced the
    // driver's bare "read ECONNRESET".
    const source = await dataSession(c.tablet('test-100'), 'copy')
    try {
      const table = (await describeSchema(source, 'vt_test_keyspace')).tables.find((t) => t.name === 'messages')!
      let loads = 0
      const broken = {
        query: async () => {
          const n = ++loads
          await sleep(30)
          if (n >= 3) throw Object.assign(new Error('read ECONNRESET'), {code: 'ECONNRESET'})
          return [{}, undefined]
        },
      }
      injected('a fake destination tablet test-fake whose connection resets on its third LOAD DATA chunk')
      const err = await copyTable({
        source,
        database: 'vt_test_keyspace',
        table,
        destinations: [{conn: broken as never, alias: 'test-fake'}],
        routeMany: (rows) => rows.map(() => 0),
        chunkBytes: 64 << 10,
      }).then(
        () => undefined,
        (e: Error) => e,
      )
      expect(err?.message).toBe('writing messages to tablet test-fake: read ECONNRESET')
    } finally {
      await source.end()
    }
  },
)
