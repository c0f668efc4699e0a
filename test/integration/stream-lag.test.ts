// Lag from heartbeats (issue 12): a heartbeat writer on the source primary and a stream from it. With no application
// writes at all the heartbeats keep the stream's position moving and its lag (ms) measured; while the stream is held
// the lag grows, and once it resumes it drops back. Heartbeat rows never reach the destination, and a read-only
// source gets no heartbeat transactions.
import {setTimeout as sleep} from 'node:timers/promises'
import type {Connection} from 'mysql2/promise'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {keyRangeFromJSON} from '../../src/keyspace/keyrange.js'
import {HeartbeatWriter} from '../../src/mysql/heartbeat.js'
import {ensureStateTables, PROCESS_OWNER, readStream, writeStreamStart} from '../../src/phases/streams/state.js'
import {Stream} from '../../src/phases/streams/stream.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'

const ID = 'test_keyspace/0->-80'
let c: TestCluster
let dest: Connection
let stream: Stream | undefined
let writer: HeartbeatWriter | undefined

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  dest = await c.connect('test-200', 'admin')
  await dest.query(
    'CREATE TABLE messages (page BIGINT UNSIGNED, time_created_ns BIGINT UNSIGNED, message VARCHAR(10000), PRIMARY KEY (page, time_created_ns)) ENGINE=InnoDB',
  )
  await ensureStateTables(dest)
  await writeStreamStart(dest, ID, 'wf-lag', '0', await sourcePos())
}, 180_000)

afterAll(async () => {
  await stream?.stop()
  await writer?.stop()
  await dest?.end()
  await c?.stop()
})

async function sourcePos(): Promise<string> {
  const [r] = await c.query<{p: string}>('test-100', 'SELECT @@gtid_binlog_pos AS p')
  return String(r!.p)
}

/** Sample the stream's lag until `cond` holds on a sample (the test's timeout bounds it); returns that sample. */
async function lagUntil(what: string, cond: (ms: number) => boolean): Promise<number> {
  for (let i = 0; ; i++) {
    const st = stream!.status()
    const ms = st.lagFrom === 'heartbeat' ? st.lagMs : undefined
    if (ms !== undefined && cond(ms)) return ms
    if (i % 100 === 99) console.log(`still waiting for ${what}; lag ${ms} ms`)
    await sleep(50)
  }
}

it('lag in ms from heartbeats: measured with no writes, grows while held, drops back after', async () => {
  const layout = c.layouts[1]!
  const all = keyRangeFromJSON({start: '', end: ''})
  stream = await Stream.start({
    id: ID,
    workflow: 'wf-lag',
    database: layout.database,
    sourceShard: '0',
    source: c.tablet('test-100'),
    destinationShard: '-80',
    destination: c.tablet('test-200'),
    destRange: all,
    groupDestinations: [{name: '-80', kr: all}],
    vschema: layout.vschema,
    referenceTables: true,
  })
  const start = (await readStream(dest, ID))!.transactions
  writer = new HeartbeatWriter(c.tablet('test-100'), '0', PROCESS_OWNER)
  writer.start()

  // No application writes: heartbeat transactions alone move the stream and are measured.
  for (;;) {
    if ((await readStream(dest, ID))!.transactions >= start + 4) break
    await sleep(50)
  }
  const seen = new Set<number>()
  const running = await lagUntil('lag measured from several heartbeats', (ms) => {
    seen.add(ms)
    return seen.size >= 3
  })
  console.log(`lag while running: ${[...seen].join(', ')} ms (last ${running} ms)`)
  expect(Number.isInteger(running)).toBe(true)
  const st = stream.status()
  expect(st.lagFrom).toBe('heartbeat')
  expect(st.lagSeconds).toBe(st.lagMs! / 1000)
  // Never applied as rows: the destination has no heartbeat table, and no row change was counted.
  const [t] = (await dest.query(
    `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = '_shardform' AND TABLE_NAME = 'heartbeat'`,
  )) as unknown as [Array<{n: number}>]
  expect(Number(t[0]!.n)).toBe(0)
  expect((await readStream(dest, ID))!.rowChanges).toBe(0)
  const [hb] = await c.query<{writer: string}>('test-100', 'SELECT writer FROM _shardform.heartbeat')
  expect(hb?.writer).toBe(PROCESS_OWNER)

  // Held: heartbeats keep arriving on the source but are not applied; the lag grows past a second.
  await stream.hold()
  const held = await lagUntil('lag to grow while held', (ms) => ms > running + 1000)
  const higher = await lagUntil('lag to keep growing while held', (ms) => ms > held)
  console.log(`lag while held: ${held} ms, then ${higher} ms`)

  // Resumed: the backlog is applied and the lag drops back below what it was while held.
  stream.unpause()
  const after = await lagUntil('lag to drop after resuming', (ms) => ms < held)
  console.log(`lag after resuming: ${after} ms`)

  // A read-only (frozen) source gets no heartbeat transactions.
  await c.query('test-100', 'SET GLOBAL read_only = 1')
  const frozen = await sourcePos()
  await sleep(1000)
  expect(await sourcePos()).toBe(frozen)
  await c.query('test-100', 'SET GLOBAL read_only = 0')

  await writer.stop()
  writer = undefined
  const rows = await c.query('test-100', 'SELECT * FROM _shardform.heartbeat')
  expect(rows).toEqual([])
}, 120_000)
