// Refusals and fallbacks of a split 0 → -80, 80-, on one real cluster, with guestbook writes through the router the
// whole time, in order:
//  - copy_schema meets a different `messages` table on a destination: refused with the difference, the sibling goes
//    on; after the table is dropped, retry continues;
//  - the source shard has no rdonly tablet: the clone reads a consistent-snapshot transaction on the primary under
//    writes; the reference table reaches every destination whole; the diff passes;
//  - migrate_primary refuses while filtered replication lags above cutoverMaxLagSeconds (a destination held back with
//    LOCK TABLES): nothing frozen, nothing moved; once released, retry completes; `load verify` is clean.
// Each test takes the workflow from atCutover(), not from an earlier test: run alone, it starts the reshard itself.
import {readFileSync, writeFileSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Connection} from 'mysql2/promise'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {apply, retry} from '../../src/engine/apply.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {runLoad, verifyJournal, type LoadSummary} from '../../src/load/index.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {GUESTBOOK_SCHEMA, guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {
  injected,
  KS,
  openWorkflow,
  readOnly,
  startFaultCluster,
  withApprovals,
  workflowById,
} from '../helpers/fault-cluster.js'
import {dataPlaneSettings, failures} from '../helpers/apply.js'

const REF_ROWS = 50
let c: TestCluster
let layout: string
let src: string
let journalFile: string
let stopLoad: () => Promise<LoadSummary>

beforeAll(async () => {
  src = mkdtempSync(join(tmpdir(), 'shardform-refusals-'))
  // Shard 0 without its rdonly tablet; the sharded vschema with a reference table.
  const one = join(src, '1-shard.yaml')
  writeFileSync(one, readFileSync(guestbookFile('1-shard.yaml'), 'utf8').replace(/^.*type: rdonly.*\n/m, ''))
  writeFileSync(
    join(src, 'vschema.json'),
    JSON.stringify({
      sharded: true,
      vindexes: {hash: {type: 'hash'}},
      tables: {messages: {column_vindexes: [{column: 'page', name: 'hash'}]}, ref_codes: {type: 'reference'}},
    }),
  )
  const two = join(src, '2-shards.yaml')
  writeFileSync(two, readFileSync(guestbookFile('2-shards.yaml'), 'utf8'))
  c = await startFaultCluster([one, two], {
    init: 0,
    schema: `${GUESTBOOK_SCHEMA}\nCREATE TABLE ref_codes (code VARCHAR(16) PRIMARY KEY, label VARCHAR(64)) ENGINE=InnoDB;`,
  })
  expect(c.tablets.map((t) => t.alias).sort()).not.toContain('test-102')
  await c.query(
    'test-100',
    `INSERT INTO ref_codes (code, label) SELECT CONCAT('c', seq), CONCAT('label ', seq) FROM seq_1_to_${REF_ROWS}`,
  )
  layout = join(c.dir, '2-shards-refusals.yaml')
  writeFileSync(
    layout,
    withApprovals(
      readFileSync(c.layoutFiles[1], 'utf8'),
      'default: none\nphases:\n  migrate_primary: phase',
      'cutoverMaxLagSeconds: 0',
    ),
  )
  const ac = new AbortController()
  journalFile = join(c.dir, 'refusals.journal')
  const loading = runLoad({keyspace: KS, store: c.store, rate: 80, concurrency: 4, journalFile, signal: ac.signal})
  let summary: LoadSummary | undefined
  stopLoad = async () => (summary ??= (ac.abort(), await loading))
}, 180_000)

afterAll(async () => {
  await stopLoad?.().catch(() => undefined)
  await c?.stop()
  if (src) rmSync(src, {recursive: true, force: true})
})

const settings = (more: {autoApprove?: boolean; noWait?: boolean} = {}) => dataPlaneSettings(c.store, more)

/**
 * The reshard's workflow, at the migrate_primary gate or past it: the first test gets it there through a refusal;
 * a test run without it gets there with a plain apply.
 */
async function atCutover(): Promise<WorkflowRecord> {
  const open = await openWorkflow(c)
  if (open) return open
  const r = await apply({...settings({noWait: true}), target: layout})
  expect(r.state, failures(r).join('\n')).toBe('waiting')
  return (r as {wf: WorkflowRecord}).wf
}

describe('refusals and fallbacks', () => {
  it(
    'copy_schema refuses a different existing table on a destination; after it is dropped, retry continues',
    {timeout: 120_000},
    async () => {
      const conn = await c.connect('test-200', 'admin')
      try {
        await conn.query('CREATE DATABASE IF NOT EXISTS vt_test_keyspace')
        await conn.query('CREATE TABLE vt_test_keyspace.messages (page BIGINT UNSIGNED PRIMARY KEY, message TEXT)')
      } finally {
        await conn.end()
      }
      injected('CREATE TABLE messages (page BIGINT UNSIGNED PRIMARY KEY, message TEXT) on destination primary test-200')
      const r = await apply({...settings({noWait: true}), target: layout})
      const errs = failures(r)
      console.log(`copy_schema refused: ${errs[0]}`)
      expect(errs).toHaveLength(1)
      expect(errs[0]).toMatch(
        /^copy_schema\/-80: table vt_test_keyspace\.messages already exists on test-200 \(shard -80\) with a different definition:\n/,
      )
      expect(errs[0]).toMatch(/^- {2}`time_created_ns` bigint\(20\) unsigned NOT NULL,$/m)
      expect(errs[0]).toMatch(
        /Make them identical \(or drop the table on test-200\) and retry: shardform retry test_keyspace copy_schema\/-80$/,
      )
      const wfId = (r as {wf: WorkflowRecord}).wf.id
      const wf = await workflowById(c, wfId)
      expect(wf.tasks['copy_schema/80-']!.state).toBe('done')
      expect(wf.tasks['clone/0']!.state).toBe('pending')

      await c.query('test-200', 'DROP TABLE vt_test_keyspace.messages')
      const again = await retry({...settings({noWait: true}), keyspace: KS, taskId: 'copy_schema/-80'})
      expect(again.state, failures(again).join('\n')).toBe('waiting')
      expect((await workflowById(c, wfId)).tasks['migrate_primary/0']!.state).toBe('waiting_approval')
    },
  )

  it('without an rdonly tablet the clone snapshots the primary under writes; the reference table is on every destination', async () => {
    const wf = await workflowById(c, (await atCutover()).id)
    expect(wf.tasks['clone/0']!.output?.snapshot).toMatchObject({kind: 'primary', tablet: 'test-100'})
    expect(wf.events.some((e) => e.task === 'clone/0' && /snapshot of 0 on primary test-100/.test(e.message))).toBe(
      true,
    )
    expect(Number(wf.tasks['diff/-80']!.output?.compared)).toBeGreaterThan(REF_ROWS)
    const want = await c.query('test-100', 'SELECT code, label FROM ref_codes ORDER BY code')
    expect(want).toHaveLength(REF_ROWS)
    for (const alias of ['test-200', 'test-300'])
      expect(await c.query(alias, 'SELECT code, label FROM ref_codes ORDER BY code'), alias).toEqual(want)
  })

  it(
    'migrate_primary refuses while lag is above cutoverMaxLagSeconds; released, retry completes; load verify is clean',
    {timeout: 180_000},
    async () => {
      const wfId = (await atCutover()).id
      const holder: Connection = await c.connect('test-200', 'admin')
      try {
        await holder.query('LOCK TABLES messages WRITE')
        injected('LOCK TABLES messages WRITE on destination primary test-200: filtered replication into -80 lags')
        const r = await apply({...settings({autoApprove: true}), target: layout})
        const errs = failures(r)
        console.log(`migrate_primary refused: ${errs[0]}`)
        expect(errs).toEqual([
          expect.stringMatching(
            /^migrate_primary\/0: refusing to stop writes: filtered replication 0 → -80 lags \d+\.\ds \(\d+ transactions\), above the 0s cutover limit\. Nothing was changed; retry when it has caught up: shardform retry test_keyspace migrate_primary\/0$/,
          ),
        ])
        expect(await readOnly(c, 'test-100')).toBe(false)
        const wf = await workflowById(c, wfId)
        expect(wf.tasks['migrate_primary/0']!.checkpoint ?? {}).toEqual({})
        const st = await readKeyspaceState(c.store, KS)
        expect(st!.srvKeyspace.partitions.primary).toEqual(['0'])
      } finally {
        await holder.query('UNLOCK TABLES').catch(() => undefined)
        await holder.end().catch(() => undefined)
      }
      injected('UNLOCK TABLES on test-200')
      // The limit is 0 s: the cutover needs a moment with the streams exactly caught up. Writes stop for it.
      const s = await stopLoad()
      expect(s.errors, s.firstErrors.join('\n')).toBe(0)
      const done = await retry({...settings({autoApprove: true}), keyspace: KS, taskId: 'migrate_primary/0'})
      expect(done.state, failures(done).join('\n')).toBe('done')
      const st = await readKeyspaceState(c.store, KS)
      expect(st!.srvKeyspace.partitions.primary).toEqual(['-80', '80-'])
      const report = await verifyJournal({store: c.store, keyspace: KS, journalFile})
      expect(report.ok, JSON.stringify(report.differences.slice(0, 5))).toBe(true)
      expect(report.counts.present).toBeGreaterThan(50)
    },
  )
})
