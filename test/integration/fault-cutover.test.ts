// Faults around the cutover (issue #8, 5, and the refusals that guard a reshard), on one real cluster, in order:
//  - copy_schema refuses a source table with a trigger, with a clear message; after DROP TRIGGER, retry continues;
//  - migrate_primary refuses, before freezing anything, while the application user holds READ_ONLY ADMIN, directly or
//    through a role it can enable;
//  - migrate_primary times out with a destination held back on purpose (LOCK TABLES … WRITE on its primary while
//    guestbook writes flow through the router): the sources are writable again, the client sees no error, nothing
//    is lost, and once the destination is released `retry` completes the workflow.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Connection} from 'mysql2/promise'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {apply, retry} from '../../src/engine/apply.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {runLoad, verifyJournal, type LoadSummary} from '../../src/load/index.js'
import {srvKeyspacePath} from '../../src/topo/paths.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {
  asRoot,
  bulkLoad,
  checkBulkRows,
  injected,
  KS,
  openWorkflow,
  readOnly,
  startFaultCluster,
  withApprovals,
  workflowById,
} from '../helpers/fault-cluster.js'
import {dataPlaneSettings, failures} from '../helpers/apply.js'

const ROWS = 20_000
let c: TestCluster
let stopAtCutover: string
let wfId: string

beforeAll(async () => {
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await bulkLoad(c, ROWS, {messageBytes: 100})
  // A phase gate stops the workflow before migrate_primary (--no-wait). A 3 s cutover timeout; the lag limit is out
  // of the way because the destination is held back before the cutover starts (this tests the timeout, not the
  // lag refusal).
  stopAtCutover = join(c.dir, '2-shards-cutover.yaml')
  writeFileSync(
    stopAtCutover,
    withApprovals(
      readFileSync(c.layoutFiles[1], 'utf8'),
      'default: none\nphases:\n  migrate_primary: phase',
      'cutoverTimeoutSeconds: 3\ncutoverMaxLagSeconds: 3600',
    ),
  )
}, 240_000)

afterAll(async () => {
  await c?.stop()
})

const settings = (more: {autoApprove?: boolean; noWait?: boolean} = {}) => dataPlaneSettings(c.store, more)

/** A grant change on one instance only, outside the binlog (as root: shardform's admin user has no GRANT OPTION). */
const grantOnly = (alias: string, sql: string) => asRoot(c, alias, ['SET SESSION sql_log_bin = 0', sql])

/**
 * What was written to a tablet's binlog since a position, except the replication heartbeat (shardform writes it on
 * a writable source primary while streams read it): table maps and statements other than BEGIN/COMMIT.
 */
async function binlogWritesSince(alias: string, file: string, pos: number): Promise<string[]> {
  const events = await c.query<{Event_type: string; Info: string}>(alias, `SHOW BINLOG EVENTS IN '${file}' FROM ${pos}`)
  return events
    .filter((e) => e.Event_type === 'Table_map' || e.Event_type === 'Query')
    .map((e) => `${e.Event_type}: ${String(e.Info)}`)
    .filter((s) => !/^Query: (BEGIN|COMMIT)\b/.test(s))
    .filter((s) => !/\(_shardform\.heartbeat\)|IF NOT EXISTS `?_shardform`?(\.`?heartbeat`?)?\b/.test(s))
}

describe('cutover faults', () => {
  it(
    'copy_schema refuses a source table with a trigger, clearly; after DROP TRIGGER, retry continues',
    {timeout: 120_000},
    async () => {
      await c.query(
        'test-100',
        "CREATE TRIGGER messages_bi BEFORE INSERT ON messages FOR EACH ROW SET NEW.message = CONCAT(NEW.message, '')",
      )
      injected('CREATE TRIGGER messages_bi BEFORE INSERT ON messages on source primary test-100')
      const r = await apply({...settings({noWait: true}), target: stopAtCutover})
      expect(r.state).toBe('failed')
      const errs = failures(r)
      console.log(`copy_schema refused: ${errs[0]}`)
      expect(errs).toHaveLength(2)
      for (const e of errs) {
        expect(e).toMatch(
          /^copy_schema\/(-80|80-): vt_test_keyspace on test-100 has triggers \(messages_bi on messages\)/,
        )
        expect(e).toMatch(
          /cannot reshard tables with triggers\. Drop them for the reshard and create them again on the new shards afterwards, then retry: shardform retry test_keyspace copy_schema\//,
        )
      }
      // Refused before touching the destinations.
      const [tables] = await Promise.all([
        c.query<{n: number}>(
          'test-200',
          "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'vt_test_keyspace'",
        ),
      ])
      expect(Number(tables[0]!.n)).toBe(0)
      wfId = (r as {wf: WorkflowRecord}).wf.id

      await c.query('test-100', 'DROP TRIGGER messages_bi')
      const again = await retry({...settings({noWait: true}), keyspace: KS, taskId: 'copy_schema/-80'})
      // The sibling is still failed: the phase stops there until it is retried too.
      expect(failures(again)).toEqual([expect.stringMatching(/^copy_schema\/80-: /)])
      const rest = await retry({...settings({noWait: true}), keyspace: KS, taskId: 'copy_schema/80-'})
      expect(rest.state, failures(rest).join('\n')).toBe('waiting')
      const wf = await workflowById(c, wfId)
      expect(wf.tasks['diff/-80']!.state).toBe('done')
      expect(wf.tasks['migrate_primary/0']!.state).toBe('waiting_approval')
    },
  )

  it(
    'migrate_primary refuses while the application user holds READ_ONLY ADMIN, before freezing anything',
    {timeout: 120_000},
    async () => {
      await grantOnly('test-100', "GRANT READ_ONLY ADMIN ON *.* TO 'app'@'127.0.0.1'")
      injected("GRANT READ_ONLY ADMIN ON *.* TO 'app'@'127.0.0.1' on source primary test-100 (sql_log_bin=0)")
      try {
        const [mark] = await c.query<{File: string; Position: number}>('test-100', 'SHOW MASTER STATUS')
        const r = await apply({...settings({autoApprove: true}), target: c.layoutFiles[1]})
        const errs = failures(r)
        console.log(`migrate_primary refused: ${errs[0]}`)
        expect(errs).toEqual([
          expect.stringMatching(
            /^migrate_primary\/0: the application user app on test-100 holds global privileges that read_only does not stop \(GRANT READ_ONLY ADMIN ON \*\.\* TO `app`@`127\.0\.0\.1`\), so the cutover could lose its writes/,
          ),
        ])
        // SHOW GRANTS carries the password hash: it must not reach the workflow history (it once did).
        expect(JSON.stringify(await workflowById(c, wfId))).not.toMatch(/IDENTIFIED|PASSWORD '\*/)
        // Nothing was frozen: the source takes the application's writes, nothing was checkpointed as frozen, primary
        // traffic stays, and shardform wrote nothing to the source's binlog.
        expect(await readOnly(c, 'test-100')).toBe(false)
        const wf = await workflowById(c, wfId)
        expect(wf.tasks['migrate_primary/0']!.checkpoint ?? {}).toEqual({})
        expect(wf.events.some((e) => e.task === 'migrate_primary/0' && /read-only/.test(e.message))).toBe(false)
        const srv = await c.store.get<{partitions: {primary: string[]}}>(srvKeyspacePath(KS))
        expect(srv!.value.partitions.primary).toEqual(['0'])
        expect(await binlogWritesSince('test-100', mark!.File, Number(mark!.Position))).toEqual([])
        await c.query(
          'test-100',
          "INSERT INTO messages (page, time_created_ns, message) VALUES (1, 1, 'dup') ON DUPLICATE KEY UPDATE message = message",
          [],
          'app',
        )
      } finally {
        await grantOnly('test-100', "REVOKE READ_ONLY ADMIN ON *.* FROM 'app'@'127.0.0.1'")
      }
    },
  )

  it(
    'migrate_primary refuses while a role the application user can enable holds READ_ONLY ADMIN',
    {timeout: 120_000},
    async () => {
      // Through two roles, not enabled by default: the application could still SET ROLE and write through the freeze.
      const roles = [
        'CREATE ROLE sf_inner',
        'GRANT READ_ONLY ADMIN ON *.* TO sf_inner',
        'CREATE ROLE sf_outer',
        'GRANT sf_inner TO sf_outer',
        "GRANT sf_outer TO 'app'@'127.0.0.1'",
      ]
      for (const sql of roles) await grantOnly('test-100', sql)
      injected(`${roles.join('; ')} on source primary test-100 (sql_log_bin=0)`)
      try {
        const r = await retry({...settings({autoApprove: true}), keyspace: KS, taskId: 'migrate_primary/0'})
        expect(failures(r)).toEqual([
          expect.stringMatching(
            /^migrate_primary\/0: the application user app on test-100 holds global privileges that read_only does not stop \(GRANT READ_ONLY ADMIN ON \*\.\* TO `sf_inner`\), so the cutover could lose its writes/,
          ),
        ])
        expect(await readOnly(c, 'test-100')).toBe(false)
      } finally {
        for (const sql of ['DROP ROLE sf_outer', 'DROP ROLE sf_inner']) await grantOnly('test-100', sql)
      }
    },
  )

  it(
    'migrate_primary times out with a destination held back: sources writable again, no client error, retry completes',
    {timeout: 180_000},
    async () => {
      const ac = new AbortController()
      const journalFile = join(c.dir, 'cutover.journal')
      // The router's pool connects after the REVOKE above: no connection of the load holds READ_ONLY ADMIN.
      const loading = runLoad({keyspace: KS, store: c.store, rate: 100, concurrency: 4, journalFile, signal: ac.signal})
      let summary: LoadSummary | undefined
      const stopLoad = async () => (summary ??= (ac.abort(), await loading))
      let holder: Connection | undefined
      try {
        await sleep(1500)
        holder = await c.connect('test-200', 'admin')
        await holder.query('LOCK TABLES messages WRITE')
        injected(
          'LOCK TABLES messages WRITE on destination primary test-200 (held by the test): filtered replication into -80 cannot apply',
        )

        const attemptsBefore = (await workflowById(c, wfId)).tasks['migrate_primary/0']!.attempts
        const t0 = Date.now()
        // The apply returns while the destination is still held (its stream's blocked batch is aborted and rolled
        // back with its position; it once waited for UNLOCK TABLES, and this test then ran into its timeout).
        const failed = await retry({...settings({autoApprove: true}), keyspace: KS, taskId: 'migrate_primary/0'})
        expect(failed.state).toBe('failed')
        const wf: WorkflowRecord = await workflowById(c, wfId)
        expect(wf.tasks['migrate_primary/0']!.state).toBe('failed')
        expect(wf.tasks['migrate_primary/0']!.attempts).toBe(attemptsBefore + 1)
        const err = wf.tasks['migrate_primary/0']!.error!
        console.log(
          `the failed apply returned ${((Date.now() - t0) / 1000).toFixed(1)} s after it started, test-200 still locked: ${err}`,
        )
        expect(err).toMatch(
          /^-80 did not catch up with 0 within 3s \(at .*, needs .*\)\. The sources are writable again and nothing was lost; retry: shardform retry test_keyspace migrate_primary\/0$/,
        )
        // Undone while the destination is still held: the source takes writes, primary traffic never moved.
        expect(await readOnly(c, 'test-100')).toBe(false)
        expect(wf.tasks['migrate_primary/0']!.checkpoint ?? {}).toEqual({})
        const srv = await c.store.get<{partitions: {primary: string[]}}>(srvKeyspacePath(KS))
        expect(srv!.value.partitions.primary).toEqual(['0'])
        await holder.query('UNLOCK TABLES')
        await holder.end()
        holder = undefined
        injected('UNLOCK TABLES on test-200')

        const done = await retry({...settings({autoApprove: true}), keyspace: KS, taskId: 'migrate_primary/0'})
        expect(done.state, failures(done).join('\n')).toBe('done')
        const final = await workflowById(c, wfId)
        expect(final.tasks['migrate_primary/0']!.attempts).toBe(attemptsBefore + 2)
        console.log(`retry done: write pause ${String(final.tasks['migrate_primary/0']!.output?.writePauseMs)} ms`)
        await sleep(1000)
        const s = await stopLoad()
        console.log(
          `load: ${s.acknowledged} acknowledged, ${s.errors} errors, ${s.buffered.buffered} writes held (max ${s.buffered.maxBufferedMs} ms), ${s.buffered.bufferTimeouts} buffer timeouts`,
        )
        expect(s.errors, s.firstErrors.join('\n')).toBe(0)
        expect(s.buffered.buffered).toBeGreaterThan(0)
        const report = await verifyJournal({store: c.store, keyspace: KS, journalFile})
        expect(report.ok, JSON.stringify(report.differences.slice(0, 5))).toBe(true)
        expect(report.counts.present).toBeGreaterThan(100)
        await checkBulkRows(c, ROWS)
        expect(await openWorkflow(c)).toBeUndefined()
      } finally {
        await holder?.query('UNLOCK TABLES').catch(() => undefined)
        await holder?.end().catch(() => undefined)
        await stopLoad()
      }
    },
  )
})
