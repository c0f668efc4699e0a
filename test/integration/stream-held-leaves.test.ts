// Two streams of one source share its binlog reader (binlog-hub.ts). One is held (as a diff holds it) while a single
// source transaction of 60,000 row changes fills its queue: it leaves the reader instead of pausing it, so the other
// stream applies everything meanwhile. Unpaused, the held stream joins the reader again where its queue ends and
// catches up: every row is on exactly one destination, once.
import type {Connection} from 'mysql2/promise'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {keyRangeFromJSON} from '../../src/keyspace/keyrange.js'
import {readersStarted} from '../../src/phases/streams/binlog-hub.js'
import {ensureStateTables, writeStreamStart} from '../../src/phases/streams/state.js'
import {Stream} from '../../src/phases/streams/stream.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'

const ROWS = 60_000
let c: TestCluster
const dests: Connection[] = []
const streams: Stream[] = []

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  for (const alias of ['test-200', 'test-300']) {
    const d = await c.connect(alias, 'admin')
    await d.query(
      'CREATE TABLE messages (page BIGINT UNSIGNED, time_created_ns BIGINT UNSIGNED, message VARCHAR(10000), PRIMARY KEY (page, time_created_ns)) ENGINE=InnoDB',
    )
    await ensureStateTables(d)
    dests.push(d)
  }
}, 180_000)

afterAll(async () => {
  await Promise.all(streams.map((s) => s.stop()))
  for (const d of dests) await d.end()
  await c?.stop()
})

async function sourcePos(): Promise<string> {
  const [r] = await c.query<{p: string}>('test-100', 'SELECT @@gtid_binlog_pos AS p')
  return String(r!.p)
}

async function count(d: Connection): Promise<number> {
  const [rows] = (await d.query('SELECT COUNT(*) AS n FROM messages')) as unknown as [Array<{n: number}>]
  return Number(rows[0]!.n)
}

it('a held stream with a full queue leaves the shared reader; its sibling reads on; it catches up exactly once', async () => {
  const layout = c.layouts[1]!
  const start = await sourcePos()
  const group = (['-80', '80-'] as const).map((name) => {
    const [s, e] = name.split('-')
    return {name, kr: keyRangeFromJSON({start: s!, end: e!})}
  })
  for (const [i, shard] of group.entries()) {
    const id = `test_keyspace/0->${shard.name}`
    await writeStreamStart(dests[i]!, id, 'wf-held', '0', start)
    streams.push(
      await Stream.start({
        id,
        workflow: 'wf-held',
        database: layout.database,
        sourceShard: '0',
        source: c.tablet('test-100'),
        destinationShard: shard.name,
        destination: c.tablet(i === 0 ? 'test-200' : 'test-300'),
        destRange: shard.kr,
        groupDestinations: group,
        vschema: layout.vschema,
        referenceTables: i === 0,
      }),
    )
  }
  const [held, sibling] = streams as [Stream, Stream]
  await held.hold()
  const readers = readersStarted()

  await c.query('test-100', `INSERT INTO messages SELECT seq, seq, 'held' FROM seq_1_to_${ROWS}`)
  await c.query('test-100', `INSERT INTO messages VALUES (${ROWS + 1}, 1, 'after')`)
  const end = await sourcePos()

  // The sibling gets everything while the held stream has applied nothing.
  expect(await sibling.waitUntil(end, 60_000)).toBe(true)
  expect(held.status().position).toBe(start)
  expect(await count(dests[0]!)).toBe(0)

  // Back: it joins the reader again (a new reader start: the old one is past where its queue ends) and catches up.
  held.unpause()
  expect(await held.waitUntil(end, 60_000)).toBe(true)
  expect(readersStarted()).toBe(readers + 1)
  const [a, b] = [await count(dests[0]!), await count(dests[1]!)]
  console.log(`rows: -80 ${a}, 80- ${b}`)
  expect(a).toBeGreaterThan(0)
  expect(b).toBeGreaterThan(0)
  expect(a + b).toBe(ROWS + 1)
  expect(held.status().rowChanges).toBe(a)
  expect(sibling.status().rowChanges).toBe(b)
}, 120_000)
