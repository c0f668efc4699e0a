// The diff must fail when a destination differs from its sources behind replication's back (rows changed on the
// destination primary with sql_log_bin=0: a missing row, an extra row, a changed column, a row in the wrong shard).
// It names the counts and the first keys, nothing is migrated, and once the rows are repaired `retry` passes and the
// workflow completes.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {apply, retry} from '../../src/engine/apply.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {
  checkBulkRows,
  injected,
  KS,
  readOnly,
  startFaultCluster,
  withApprovals,
  workflowById,
} from '../helpers/fault-cluster.js'
import {dataPlaneSettings, failures} from '../helpers/apply.js'

const ROWS = 200
let c: TestCluster
let stopAtDiff: string

beforeAll(async () => {
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  // page = time_created_ns = 1..ROWS (the fault helpers' bulk rows). hash(1), hash(2), hash(3) are in -80.
  await c.query(
    'test-100',
    `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, CONCAT('bulk ', seq) FROM seq_1_to_${ROWS}`,
  )
  await c.waitReplication()
  stopAtDiff = join(c.dir, '2-shards-diff.yaml')
  writeFileSync(
    stopAtDiff,
    withApprovals(readFileSync(c.layoutFiles[1], 'utf8'), 'default: none\nphases:\n  diff: phase'),
  )
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

const settings = (more: {autoApprove?: boolean; noWait?: boolean} = {}) => dataPlaneSettings(c.store, more)

/** Statements on one destination primary, outside the binlog: its replicas and filtered replication never see them. */
async function behindReplication(alias: string, statements: string[]): Promise<void> {
  const conn = await c.connect(alias, 'admin')
  try {
    await conn.query('SET SESSION sql_log_bin = 0')
    for (const sql of statements) await conn.query(sql)
  } finally {
    await conn.end()
  }
  injected(`${statements.join('; ')} on ${alias} (sql_log_bin=0)`)
}

describe('diff against a tampered destination', () => {
  it(
    'fails naming counts and first keys, migrates nothing; after the repair, retry passes and the workflow completes',
    {timeout: 240_000},
    async () => {
      const first = await apply({...settings({noWait: true}), target: stopAtDiff})
      expect(first.state, failures(first).join('\n')).toBe('waiting')
      const wfId = (first as {wf: WorkflowRecord}).wf.id
      expect((await workflowById(c, wfId)).tasks['diff/-80']!.state).toBe('waiting_approval')

      // -80: a missing row, a changed column, a row that is nowhere on the source.
      await behindReplication('test-200', [
        'DELETE FROM messages WHERE page = 1',
        "UPDATE messages SET message = 'changed behind replication' WHERE page = 2",
        "INSERT INTO messages (page, time_created_ns, message) VALUES (100001, 100001, 'extra')",
      ])
      // 80-: a row of the source that belongs to -80 (hash(3) = 4eb1…).
      await behindReplication('test-300', [
        "INSERT INTO messages (page, time_created_ns, message) VALUES (3, 3, 'bulk 3')",
      ])

      const failed = await apply({...settings({autoApprove: true}), target: stopAtDiff})
      const errs = failures(failed).sort()
      console.log(`diff failed:\n${errs.join('\n')}`)
      expect(errs).toEqual([
        'diff/-80: diff of -80 against 0 found differences — messages: 1 missing, 1 extra, 1 different (first: missing (page=1, time_created_ns=1); different (page=2, time_created_ns=2); extra (page=100001, time_created_ns=100001)). Nothing was migrated. Investigate, then retry: shardform retry test_keyspace diff/-80',
        'diff/80-: diff of 80- against 0 found differences — messages: 0 missing, 1 extra, 0 different (first: extra (page=3, time_created_ns=3)). Nothing was migrated. Investigate, then retry: shardform retry test_keyspace diff/80-',
      ])
      // Approved together, the two ran in one scan of the source, each with its own outcome and error.
      const scans = (await workflowById(c, wfId)).events.filter(
        (e) => e.task?.startsWith('diff/') && /one scan of 0 compares 2 destination\(s\): -80, 80-$/.test(e.message),
      )
      expect(scans.map((e) => e.task).sort()).toEqual(['diff/-80', 'diff/80-'])
      // Nothing migrated: every type still served by 0, no migrate task ran, the source takes writes.
      const st = await readKeyspaceState(c.store, KS)
      expect(st!.srvKeyspace.partitions).toEqual({primary: ['0'], replica: ['0'], rdonly: ['0']})
      const wf = await workflowById(c, wfId)
      for (const id of ['migrate_rdonly/0', 'migrate_replica/0', 'migrate_primary/0'])
        expect(wf.tasks[id]!.state, id).toBe('pending')
      expect(await readOnly(c, 'test-100')).toBe(false)

      // Repair, then retry: -80 passes (80- still failed stops the phase), then 80- passes and the rest runs.
      await behindReplication('test-200', [
        "INSERT INTO messages (page, time_created_ns, message) VALUES (1, 1, 'bulk 1')",
        "UPDATE messages SET message = 'bulk 2' WHERE page = 2",
        'DELETE FROM messages WHERE page = 100001',
      ])
      await behindReplication('test-300', ['DELETE FROM messages WHERE page = 3'])
      const one = await retry({...settings({autoApprove: true}), keyspace: KS, taskId: 'diff/-80'})
      expect(failures(one)).toEqual([expect.stringMatching(/^diff\/80-: /)])
      expect((await workflowById(c, wfId)).tasks['diff/-80']!.state).toBe('done')
      const done = await retry({...settings({autoApprove: true}), keyspace: KS, taskId: 'diff/80-'})
      expect(done.state, failures(done).join('\n')).toBe('done')
      const after = await readKeyspaceState(c.store, KS)
      expect(after!.srvKeyspace.partitions.primary).toEqual(['-80', '80-'])
      const counts = await checkBulkRows(c, ROWS)
      expect(counts['-80']! + counts['80-']!).toBe(ROWS)
    },
  )
})
