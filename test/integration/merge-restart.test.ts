// A merge -80, 80- → 0 that also changes the vindex (hash → xxhash), whose clone/80- fails after copying and is
// retried: the retry first removes the rows the failed copy wrote (its snapshot is gone). Those are the rows the OLD
// vindex placed on 80-; found by the new one, the purge once deleted rows clone/-80 had copied (lost) and left some
// of 80-'s in place.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {apply, retry} from '../../src/engine/apply.js'
import type {Executor, TaskContext, WorkflowRecord} from '../../src/engine/types.js'
import {dataPlaneRuntime} from '../../src/phases/index.js'
import {Router} from '../../src/routing/router.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import {failures} from '../helpers/apply.js'
import {KS, injected, withApprovals} from '../helpers/fault-cluster.js'

const ROWS = 1000
let c: TestCluster

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 1, schema: true})
  // Rows placed by the hash vindex, as the application writes them.
  const router = await Router.open({store: c.store, keyspace: KS, role: 'admin'})
  try {
    for (let page = 1; page <= ROWS; page++)
      await router.execute('messages', page, 'INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)', [
        page,
        page,
        `row ${page}`,
      ])
  } finally {
    await router.close()
  }
  await c.waitReplication()
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

/** The 1-shard layout with a sharded vschema on xxhash and no gates: a merge that changes the vindex. */
function mergeWithXxhash(): string {
  const f = join(c.dir, '1-shard-xxhash.yaml')
  const xxhash = [
    'vschema:',
    '  sharded: true',
    '  vindexes:',
    '    xx: { type: xxhash }',
    '  tables:',
    '    messages:',
    '      column_vindexes:',
    '        - { column: page, name: xx }',
    '',
  ].join('\n')
  const text = readFileSync(c.layoutFiles[0], 'utf8').replace(/^vschema:\n( {2}.*\n)+/m, xxhash)
  expect(text).toContain('xxhash')
  writeFileSync(f, withApprovals(text, 'default: none'))
  return f
}

it(
  'the retry of an interrupted merge copy removes exactly the rows it wrote, by the vindex that placed them',
  {timeout: 240_000},
  async () => {
    const runtime = dataPlaneRuntime()
    const clone = runtime.executors.clone!
    // clone/80- fails on its first attempt once its rows are written (its first checkpoint after the snapshot's).
    const failing: Executor = async (ctx) => {
      if (ctx.task.id !== 'clone/80-' || ctx.attempt !== 1) return clone(ctx)
      let saves = 0
      const wrapped: TaskContext = Object.create(ctx)
      wrapped.saveCheckpoint = async (data) => {
        if (++saves === 2) {
          injected('clone/80- fails after copying its rows (before its checkpoint)')
          throw new Error('injected failure after the copy')
        }
        return ctx.saveCheckpoint(data)
      }
      return clone(wrapped)
    }
    runtime.executors.clone = failing
    const settings = {store: c.store, runtime, ui: {confirm: async () => true}, autoApprove: true}

    const first = await apply({...settings, target: mergeWithXxhash()})
    expect(first.state).toBe('failed')
    const wf = (first as {wf: WorkflowRecord}).wf
    expect(failures(first)).toEqual(['clone/80-: injected failure after the copy'])
    expect(wf.tasks['clone/-80']!.state).toBe('done')
    // The failed copy's rows are on the destination next to clone/-80's: every row once so far.
    expect(Number((await c.query<{n: number}>('test-100', 'SELECT COUNT(*) AS n FROM messages'))[0]!.n)).toBe(ROWS)

    const again = await retry({...settings, keyspace: KS, taskId: 'clone/80-'})
    expect(again.state, failures(again).join('\n')).toBe('done')
    const done = (again as {wf: WorkflowRecord}).wf
    expect(
      done.events.some((e) =>
        /the snapshot of the interrupted copy is gone; removing the rows it wrote/.test(e.message),
      ),
    ).toBe(true)

    // Read on the merged shard directly: every row exactly once, as written.
    const rows = await c.query<{page: number; message: string}>(
      'test-100',
      'SELECT page, message FROM messages ORDER BY page',
    )
    const pages = rows.map((r) => Number(r.page))
    expect(pages.length).toBe(ROWS)
    expect(new Set(pages).size).toBe(ROWS)
    expect(rows.filter((r) => r.message !== `row ${r.page}`)).toEqual([])
  },
)
