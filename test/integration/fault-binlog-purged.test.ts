// Faults that end in a cancel (apply the layout the reshard started from), on one cluster:
//  - kill -9 of apply while the clone's snapshot holds the source rdonly stopped, then a cancel: the rdonly must
//    replicate again (nothing else would restart it);
//  - (issue #8, 4) the source's binlog purged past filtered replication's position while no apply runs (the
//    workflow stopped after the clone): the next apply must stop with a clear error that says the destinations must
//    be copied again and how — never continue with a silent gap. Following that advice (cancel, then apply the new
//    layout again) ends with every row in place.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {assertBuilt} from '../helpers/engine-cli.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {
  bulkLoad,
  checkBulkRows,
  cliProc,
  injected,
  KS,
  openWorkflow,
  startFaultCluster,
  withApprovals,
  workflowById,
} from '../helpers/fault-cluster.js'

const ROWS = 20_000
let c: TestCluster

beforeAll(async () => {
  assertBuilt()
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await bulkLoad(c, ROWS, {messageBytes: 100})
}, 240_000)

afterAll(async () => {
  await c?.stop()
})

const run = (args: string[]) => cliProc(c, args).exited

it(
  'kill -9 of apply right after the clone froze the source rdonly, then a cancel: the rdonly replicates again',
  {timeout: 120_000},
  async () => {
    const apply = cliProc(c, ['apply', c.layoutFiles[1], '--auto-approve', '--lock-ttl', '1'])
    await apply.waitFor(/clone\/0: snapshot of 0 on rdonly test-102/, 60_000)
    apply.proc.kill('SIGKILL')
    await apply.exited
    const [st] = await c.query<{Slave_SQL_Running: string}>('test-102', 'SHOW SLAVE STATUS')
    injected(
      `kill -9 of apply right after clone/0 stopped replication on rdonly test-102 for its snapshot (SQL thread running: ${st!.Slave_SQL_Running})`,
    )
    expect(st!.Slave_SQL_Running).toBe('No')
    const held = await c.store.readLock(KS)
    if (held) await c.store.forceUnlock(KS, held.id).catch(() => undefined)

    // Cancel: apply the layout it started from.
    const cancel = await run(['apply', c.layoutFiles[0], '--auto-approve'])
    expect(cancel.code, cancel.stdout + cancel.stderr).toBe(0)
    expect(await openWorkflow(c)).toBeUndefined()
    // The rdonly serves rdonly traffic of shard 0 again: it must not stay frozen at the snapshot (it once did).
    const [after] = await c.query<{Slave_SQL_Running: string; Slave_IO_Running: string}>(
      'test-102',
      'SHOW SLAVE STATUS',
    )
    console.log(
      `after the cancel, test-102 replication: IO ${after!.Slave_IO_Running}, SQL ${after!.Slave_SQL_Running}`,
    )
    expect(after!.Slave_SQL_Running).toBe('Yes')
    expect(cancel.stdout).toContain(
      'rdonly test-102 of 0 was left stopped at the snapshot of an interrupted clone; it replicates again',
    )
    await c.query(
      'test-100',
      'INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)',
      [ROWS + 1000, ROWS + 1000, 'after the cancel'],
      'app',
    )
    await c.waitReplication()
    await c.query('test-100', 'DELETE FROM messages WHERE page = ?', [ROWS + 1000], 'app')
    await c.waitReplication()
  },
)

it(
  'a purged binlog stops the workflow with how to copy again; cancel + apply again loses nothing',
  {timeout: 240_000},
  async () => {
    // Stop after the clone: a phase gate on wait_for_filtered_replication and --no-wait (streams stop with the apply).
    const stopAfterClone = join(c.dir, '2-shards-stop-after-clone.yaml')
    writeFileSync(
      stopAfterClone,
      withApprovals(
        readFileSync(c.layoutFiles[1], 'utf8'),
        'default: none\nphases:\n  wait_for_filtered_replication: phase',
      ),
    )
    // Without a terminal a layout needs --auto-approve (which would open the gate too): apply it as a saved plan.
    const saved = join(c.dir, 'stop-after-clone.plan')
    const planned = await run(['plan', stopAfterClone, '--out', saved])
    expect(planned.code, planned.stderr).toBe(0)
    const first = await run(['apply', saved, '--no-wait'])
    expect(first.code, first.stdout + first.stderr).toBe(3)
    const wf = (await openWorkflow(c))!
    expect(wf.tasks['clone/0']!.state).toBe('done')
    const streamStart = String(wf.tasks['clone/0']!.output?.gtid)

    // Changes on the source that filtered replication has not read yet (no apply runs).
    const conn = await c.connect('test-100')
    try {
      for (let i = 1; i <= 50; i++)
        await conn.query('INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)', [
          ROWS + i,
          ROWS + i,
          `after the clone ${i}`,
        ])
      await conn.query('UPDATE messages SET message = ? WHERE page <= 10', ['updated after the clone'])
      await conn.query('DELETE FROM messages WHERE page BETWEEN 11 AND 20')
    } finally {
      await conn.end()
    }
    await c.waitReplication()
    const admin = await c.connect('test-100', 'admin')
    let purgedTo: string
    try {
      await admin.query('FLUSH BINARY LOGS')
      const [[status]] = (await admin.query('SHOW MASTER STATUS')) as unknown as [Array<{File: string}>]
      purgedTo = status!.File
      // A log still read by a dump thread (a replica moving on to the new file) is kept: try again for a while.
      let logs: string[] = []
      for (let i = 0; i < 100; i++) {
        await admin.query(`PURGE BINARY LOGS TO '${purgedTo}'`)
        const [rows] = (await admin.query('SHOW BINARY LOGS')) as unknown as [Array<{Log_name: string}>]
        logs = rows.map((l) => l.Log_name)
        if (logs.length === 1) break
        await sleep(100)
      }
      expect(logs).toEqual([purgedTo])
    } finally {
      await admin.end()
    }
    injected(
      `50 inserts, 10 updates, 10 deletes on test-100 after the clone (stream position ${streamStart}), then FLUSH BINARY LOGS + PURGE BINARY LOGS TO '${purgedTo}'`,
    )

    const resumed = await run(['apply', c.layoutFiles[1], '--auto-approve'])
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(1)
    const out = resumed.stdout + resumed.stderr
    console.log(`apply after the purge exited ${resumed.code}:\n${resumed.stderr.trim()}`)
    // Clear: what happened, that the destinations must be copied again, and the commands to do it.
    expect(out).toMatch(/tablet test-100: the source no longer has the binary log filtered replication must read from/)
    expect(out).toMatch(/They must be copied again/)
    expect(out).toMatch(
      /cancel this reshard by applying the layout it started from \(shardform apply <previous layout>\), then apply the new layout again/,
    )
    const failed = await workflowById(c, wf.id)
    expect(failed.state).toBe('failed')
    // Both streams read the purged binlog: neither destination may pass as caught up (a stream just resumed far
    // behind once reported lag 0 before its first transaction arrived, and wait_for_filtered_replication/80- passed).
    for (const t of ['wait_for_filtered_replication/-80', 'wait_for_filtered_replication/80-']) {
      expect(failed.tasks[t]!.state, t).toBe('failed')
      expect(failed.tasks[t]!.error, t).toMatch(/They must be copied again/)
    }
    // No silent gap: nothing past the failed phase ran, primary traffic never moved.
    for (const t of ['diff/-80', 'diff/80-', 'migrate_primary/0']) expect(failed.tasks[t]!.state, t).toBe('pending')

    // The advice: cancel by applying the layout it started from, then apply the new layout again.
    const cancel = await run(['apply', c.layoutFiles[0], '--auto-approve'])
    expect(cancel.code, cancel.stdout + cancel.stderr).toBe(0)
    expect((await workflowById(c, wf.id)).state).toBe('cancelled')
    const again = await run(['apply', c.layoutFiles[1], '--auto-approve'])
    expect(again.code, again.stdout + again.stderr).toBe(0)
    expect(again.stdout).toContain('Apply complete!')
    const wf2 = (await openWorkflow(c)) ?? undefined
    expect(wf2).toBeUndefined()

    // Every row, including the changes made while the binlog was purged: the source (now retired, frozen) and the
    // new shards hold the same rows.
    await checkBulkRows(c, ROWS + 50, {deleted: (p) => p >= 11 && p <= 20})
    const shardRows = await Promise.all(
      ['test-200', 'test-300'].map((a) =>
        c.query<{n: number | string; upd: number | string}>(
          a,
          "SELECT COUNT(*) AS n, SUM(message = 'updated after the clone') AS upd FROM messages",
        ),
      ),
    )
    const [src] = await c.query<{n: number | string}>('test-100', 'SELECT COUNT(*) AS n FROM messages')
    const total = shardRows.reduce((n, [r]) => n + Number(r!.n), 0)
    expect(total).toBe(Number(src!.n))
    expect(total).toBe(ROWS + 50 - 10)
    expect(shardRows.reduce((n, [r]) => n + Number(r!.upd ?? 0), 0)).toBe(10)
    console.log(
      `after cancel + apply again: ${total} rows on -80/80- (source ${src!.n}), 10 updated, pages 11..20 deleted`,
    )
  },
)
