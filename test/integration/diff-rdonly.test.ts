// Where diff reads the sources (as the seed's SplitDiff does): on a source rdonly whose replication it stops at the
// held stream's position and starts again afterwards, sparing the primary that serves the application; on the
// primary when the rdonly cannot serve (its replication is not running).
import {afterAll, beforeAll, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {dataPlaneSettings, failures} from '../helpers/apply.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import {gatedLayout} from '../helpers/fault-cluster.js'

const ROWS = 2000
let c: TestCluster

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await c.query(
    'test-100',
    `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, CONCAT('row ', seq) FROM seq_1_to_${ROWS}`,
  )
  await c.waitReplication()
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

const sqlRunning = async (alias: string) =>
  String((await c.query<{Slave_SQL_Running: string}>(alias, 'SHOW SLAVE STATUS'))[0]?.Slave_SQL_Running)

const diffLines = (wf: WorkflowRecord) =>
  wf.events.filter((e) => e.task?.startsWith('diff/') && /held at|reading the primary/.test(e.message))

it(
  'reads each source on its rdonly and restarts its replication; falls back to the primary when it cannot',
  {timeout: 240_000},
  async () => {
    // The split 0 → -80, 80-: both diff tasks read shard 0 on its rdonly test-102.
    const split = await apply({...dataPlaneSettings(c.store, {autoApprove: true}), target: c.layoutFiles[1]})
    expect(split.state, failures(split).join('\n')).toBe('done')
    const wf = (split as {wf: WorkflowRecord}).wf
    const diffTask = wf.plan.phases.find((ph) => ph.name === 'diff')!.tasks[0]!
    expect(diffTask.detail).toContain('0 (read on rdonly test-102)')
    const held = diffLines(wf)
    expect(held.map((e) => e.task).sort()).toEqual(['diff/-80', 'diff/80-'])
    for (const e of held) expect(e.message).toMatch(/0@\S+ \(read on rdonly test-102\)/)
    for (const id of ['diff/-80', 'diff/80-']) expect(Number(wf.tasks[id]!.output?.compared)).toBeGreaterThan(0)
    // Its replication runs again, and it follows the primary.
    expect(await sqlRunning('test-102')).toBe('Yes')
    await c.query('test-100', "INSERT INTO messages (page, time_created_ns, message) VALUES (1, 999999, 'after')")
    await c.waitReplication()
    expect((await c.query('test-102', 'SELECT * FROM messages WHERE time_created_ns = 999999')).length).toBe(1)

    // The merge back, stopped at its diff gate (its clone used the rdonly too); then -80's rdonly stops replicating,
    // so diff/0 reads -80 on its primary and 80- on its rdonly.
    const merge1 = gatedLayout(c, 0, '1-shard-diff-gate.yaml', 'default: none\nphases:\n  diff: phase')
    const atGate = await apply({...dataPlaneSettings(c.store, {noWait: true}), target: merge1})
    expect(atGate.state, failures(atGate).join('\n')).toBe('waiting')
    await c.query('test-202', 'STOP SLAVE')
    try {
      const merge = await apply({...dataPlaneSettings(c.store, {autoApprove: true}), target: merge1})
      expect(merge.state, failures(merge).join('\n')).toBe('done')
      const lines = diffLines((merge as {wf: WorkflowRecord}).wf).map((e) => e.message)
      expect(
        lines.some((m) => m.includes('replication on rdonly test-202 is not running; reading the primary test-200')),
      ).toBe(true)
      expect(
        lines.some((m) => /-80@\S+ \(read on primary test-200\), 80-@\S+ \(read on rdonly test-302\)/.test(m)),
      ).toBe(true)
      expect(await sqlRunning('test-302')).toBe('Yes')
      // The rdonly diff did not stop is left as it was.
      expect(await sqlRunning('test-202')).toBe('No')
    } finally {
      await c.query('test-202', 'START SLAVE')
    }
    const [{n}] = await c.query<{n: number}>('test-100', 'SELECT COUNT(*) AS n FROM messages')
    // The row written to the retired shard 0 above is gone: a merge empties a destination of what a retired shard left.
    expect(Number(n)).toBe(ROWS)
  },
)
