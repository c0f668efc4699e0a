// One scan for the diff tasks of a group approved together (phases/diff-scan.ts), each with its own outcome: a
// destination that differs fails its own task only, while its sibling in the same scan passes and records which
// destinations the scan covered; once repaired, a retry of the failed one scans for it alone and the workflow completes.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {apply, retry} from '../../src/engine/apply.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {injected, startFaultCluster, withApprovals, workflowById, KS} from '../helpers/fault-cluster.js'
import {dataPlaneSettings, failures} from '../helpers/apply.js'

const ROWS = 300
let c: TestCluster
let atDiff: string

beforeAll(async () => {
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await c.query(
    'test-100',
    `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, CONCAT('row ', seq) FROM seq_1_to_${ROWS}`,
  )
  await c.waitReplication()
  atDiff = join(c.dir, '2-shards-diff.yaml')
  writeFileSync(atDiff, withApprovals(readFileSync(c.layoutFiles[1]!, 'utf8'), 'default: none\nphases:\n  diff: phase'))
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

it(
  'a destination that differs fails its own task; its sibling in the same scan passes',
  {timeout: 240_000},
  async () => {
    const settings = (more: {autoApprove?: boolean; noWait?: boolean}) => dataPlaneSettings(c.store, more)
    const first = await apply({...settings({noWait: true}), target: atDiff})
    expect(first.state, failures(first).join('\n')).toBe('waiting')
    const wfId = (first as {wf: WorkflowRecord}).wf.id
    // 80- gets a row behind replication's back (hash(3) belongs to -80).
    const conn = await c.connect('test-300', 'admin')
    try {
      await conn.query('SET SESSION sql_log_bin = 0')
      await conn.query("INSERT INTO messages (page, time_created_ns, message) VALUES (3, 3, 'row 3')")
    } finally {
      await conn.end()
    }
    injected('a row of -80 written on test-300 (80-) with sql_log_bin=0')

    const mixed = await apply({...settings({autoApprove: true}), target: atDiff})
    expect(failures(mixed)).toEqual([
      expect.stringMatching(
        /^diff\/80-: diff of 80- against 0 found differences — messages: 0 missing, 1 extra, 0 different/,
      ),
    ])
    const wf = await workflowById(c, wfId)
    expect(wf.tasks['diff/-80']).toMatchObject({state: 'done', output: {scan: {destinations: ['-80', '80-']}}})
    expect(Number(wf.tasks['diff/-80']!.output?.compared)).toBeGreaterThan(ROWS / 4)
    expect(wf.tasks['diff/80-']!.state).toBe('failed')
    const scans = wf.events.filter(
      (e) => e.task?.startsWith('diff/') && /one scan of 0 compares 2 destination\(s\)/.test(e.message),
    )
    expect(scans.map((e) => e.task).sort()).toEqual(['diff/-80', 'diff/80-'])

    // Repaired, the retry scans for 80- alone and the workflow completes.
    const fix = await c.connect('test-300', 'admin')
    try {
      await fix.query('SET SESSION sql_log_bin = 0')
      await fix.query('DELETE FROM messages WHERE page = 3')
    } finally {
      await fix.end()
    }
    const done = await retry({...settings({autoApprove: true}), keyspace: KS, taskId: 'diff/80-'})
    expect(done.state, failures(done).join('\n')).toBe('done')
    const after = await workflowById(c, wfId)
    expect(after.tasks['diff/80-']).toMatchObject({state: 'done', attempts: 2, output: {scan: {destinations: ['80-']}}})
  },
)
