// DDL on a source during filtered replication (settings.onDdl), on one real cluster, in order:
//  - exec: a split 0 → -80, 80- whose source gets ALTER TABLE … ADD COLUMN, CREATE INDEX, CREATE/DROP TABLE in the
//    keyspace and a DROP in another database while the workflow waits at its diff gate: each statement runs once on
//    every destination (one of them already ran the ALTER before a "crash", with the stream's note of it left), the
//    diff passes and the reshard completes;
//  - stop (the default): a merge -80, 80- → 0 whose source -80 gets a DROP in another database (ignored) and then an
//    ALTER TABLE: the stream stops at the ALTER with the statement and what to do, in the task and in the stream's
//    status; the destination has every row before it; cancelling by applying the previous layout works.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import type {StreamsRecord} from '../../src/phases/streams/manager.js'
import {workflowStreamsPath} from '../../src/topo/paths.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {checkBulkRows, injected, KS, startFaultCluster, withApprovals, workflowById} from '../helpers/fault-cluster.js'
import {dataPlaneSettings, failures} from '../helpers/apply.js'

const ROWS = 100
let c: TestCluster

beforeAll(async () => {
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await c.query(
    'test-100',
    `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, CONCAT('bulk ', seq) FROM seq_1_to_${ROWS}`,
  )
  await c.waitReplication()
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

const settings = (more: {autoApprove?: boolean; noWait?: boolean} = {}) => dataPlaneSettings(c.store, more)

/** A copy of one of the cluster's layouts that stops at the diff gate, with more settings. */
function stoppingAtDiff(index: number, name: string, extraSettings?: string): string {
  const f = join(c.dir, name)
  const text = withApprovals(
    readFileSync(c.layoutFiles[index], 'utf8'),
    'default: none\nphases:\n  diff: phase',
    extraSettings,
  )
  writeFileSync(f, text)
  return f
}

async function onSource(alias: string, statements: string[]): Promise<void> {
  for (const sql of statements) await c.query(alias, sql)
  injected(`${statements.join('; ')} on source primary ${alias}`)
}

const createOf = async (alias: string) =>
  String(Object.values((await c.query(alias, 'SHOW CREATE TABLE messages'))[0]!)[1])

describe('DDL on a source during filtered replication', () => {
  it(
    'onDdl: exec runs every statement once on each destination; the diff passes; the reshard completes',
    {timeout: 240_000},
    async () => {
      const layout = stoppingAtDiff(1, '2-shards-exec.yaml', 'onDdl: exec')
      const first = await apply({...settings({noWait: true}), target: layout})
      expect(first.state, failures(first).join('\n')).toBe('waiting')
      const wfId = (first as {wf: WorkflowRecord}).wf.id

      // A crash of the stream into -80 right after it ran the ALTER there, before its position moved: the ALTER is on
      // test-200 and the stream's note of it is left. The ALTER's GTID is the source's next one (nothing else writes).
      const [{p}] = await c.query<{p: string}>('test-100', 'SELECT @@gtid_binlog_pos AS p')
      const [domain, server, seq] = String(p).split('-')
      const alterGtid = `${domain}-${server}-${Number(seq) + 1}`
      const alter = 'ALTER TABLE messages ADD COLUMN note VARCHAR(32) NULL'
      const conn = await c.connect('test-200', 'admin')
      try {
        // In the binlog, as the stream's own run of it would be: test-200's replicas follow.
        await conn.query(alter)
        await conn.query(
          `INSERT INTO _shardform.stream_ddl (id, gtid, statement, started_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))`,
          [`${KS}/0->-80`, alterGtid, alter],
        )
      } finally {
        await conn.end()
      }
      injected(`${alter} on test-200 with the stream's note of ${alterGtid} a crash after it ran`)
      await c.waitReplication()

      await onSource('test-100', [
        alter,
        "INSERT INTO messages (page, time_created_ns, message, note) SELECT seq, seq, CONCAT('after ', seq), CONCAT('n', seq) FROM seq_1001_to_1020",
        'CREATE INDEX messages_note ON messages (note)',
        "UPDATE messages SET note = 'updated' WHERE page <= 5",
        'CREATE TABLE scratch_junk (id INT PRIMARY KEY)',
        'DROP TABLE scratch_junk',
        'CREATE DATABASE IF NOT EXISTS other_db',
        'CREATE TABLE other_db.t (id INT PRIMARY KEY)',
        'DROP TABLE other_db.t',
      ])
      expect(String(p)).not.toBe(
        String((await c.query<{p: string}>('test-100', 'SELECT @@gtid_binlog_pos AS p'))[0]!.p),
      )

      const done = await apply({...settings({autoApprove: true}), target: layout})
      expect(done.state, failures(done).join('\n')).toBe('done')
      const wf = await workflowById(c, wfId)
      expect(Number(wf.tasks['diff/-80']!.output?.compared) + Number(wf.tasks['diff/80-']!.output?.compared)).toBe(
        ROWS + 20,
      )
      // Each destination has the source's definition (the column and the index, once), no junk table, no other_db,
      // no note left; the rows written after the ALTER carry their notes.
      const source = await createOf('test-100')
      expect(source).toMatch(/`note` varchar\(32\)/)
      expect(source).toMatch(/KEY `messages_note` \(`note`\)/)
      for (const alias of ['test-200', 'test-300']) {
        expect(await createOf(alias)).toBe(source)
        const tables = await c.query<{t: string}>(
          alias,
          "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ('vt_test_keyspace', 'other_db')",
        )
        expect(tables.map((r) => String(r.t))).toEqual(['vt_test_keyspace.messages'])
        expect(await c.query(alias, 'SELECT * FROM _shardform.stream_ddl')).toEqual([])
      }
      const notes = (
        await Promise.all(
          ['test-200', 'test-300'].map((a) =>
            c.query<{page: string; note: string}>(a, 'SELECT page, note FROM messages WHERE note IS NOT NULL'),
          ),
        )
      ).flat()
      expect(notes.length).toBe(25)
      expect(
        notes
          .filter((r) => String(r.note) === 'updated')
          .map((r) => Number(r.page))
          .sort((a, b) => a - b),
      ).toEqual([1, 2, 3, 4, 5])
      const st = await readKeyspaceState(c.store, KS)
      expect(st!.srvKeyspace.partitions.primary).toEqual(['-80', '80-'])
      const counts = await checkBulkRows(c, ROWS)
      expect(counts['-80']! + counts['80-']!).toBe(ROWS)
    },
  )

  it(
    'onDdl: stop (the default) stops the stream at the statement, saying what to do; cancelling works',
    {timeout: 240_000},
    async () => {
      const layout = stoppingAtDiff(0, '1-shard-stop.yaml')
      const first = await apply({...settings({noWait: true}), target: layout})
      expect(first.state, failures(first).join('\n')).toBe('waiting')
      const wfId = (first as {wf: WorkflowRecord}).wf.id

      // A DROP in another database does not concern the keyspace: the row after it still arrives.
      await onSource('test-200', [
        'CREATE DATABASE IF NOT EXISTS other_db',
        'CREATE TABLE other_db.u (id INT PRIMARY KEY)',
        'DROP TABLE other_db.u',
        "INSERT INTO messages (page, time_created_ns, message) VALUES (1, 5000, 'before the alter')",
      ])
      const [{p}] = await c.query<{p: string}>('test-200', 'SELECT @@gtid_binlog_pos AS p')
      const [domain, server, seq] = String(p).split('-')
      const alterGtid = `${domain}-${server}-${Number(seq) + 1}`
      await onSource('test-200', ['ALTER TABLE messages ADD COLUMN extra INT NULL'])

      const failed = await apply({...settings({autoApprove: true}), target: layout})
      const errs = failures(failed)
      console.log(`stopped:\n${errs.join('\n')}`)
      const message = `the source -80 (tablet test-200) ran DDL on vt_test_keyspace while filtered replication into 0 was running: ALTER TABLE messages ADD COLUMN extra INT NULL (GTID ${alterGtid}). The stream stopped there (settings.onDdl: stop). To go on, cancel this reshard by applying the layout it started from, then apply the new layout again (set settings.onDdl: exec in it to have shardform run such statements on the destinations as it replicates).`
      expect(errs).toEqual([`diff/0: ${message}`])
      const streams = (await c.store.get<StreamsRecord>(workflowStreamsPath(wfId)))!.value.streams
      expect(streams.find((s) => s.source === '-80')).toMatchObject({state: 'failed', error: message})
      // Everything before the ALTER arrived; the ALTER did not run on the destination; nothing moved.
      const rows = await c.query('test-100', 'SELECT message FROM messages WHERE page = 1 AND time_created_ns = 5000')
      expect(rows.map((r) => String(r.message))).toEqual(['before the alter'])
      expect(await createOf('test-100')).not.toMatch(/`extra`/)
      const st = await readKeyspaceState(c.store, KS)
      expect(st!.srvKeyspace.partitions.primary).toEqual(['-80', '80-'])

      const back = await apply({...settings({autoApprove: true}), target: c.layoutFiles[1]})
      expect(back.state, failures(back).join('\n')).toBe('done')
      expect((await workflowById(c, wfId)).state).toBe('cancelled')
    },
  )
})
