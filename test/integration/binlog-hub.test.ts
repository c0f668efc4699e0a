// One binlog reader per source in a process (binlog-hub.ts). Subscribers opened together share one reader started at
// the earliest of their positions; each receives exactly the transactions after its own position, once and in order;
// a subscriber behind the reader rewinds it without the others seeing anything twice; the last one to leave stops it.
// And two streams of one source on it: one is held (as a diff holds it) while a single source transaction of 60,000
// row changes fills its queue. It leaves the reader instead of pausing it, so the other stream applies everything
// meanwhile; unpaused, it joins the reader again where its queue ends and catches up: every row on one destination, once.
import type {Connection} from 'mysql2/promise'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {keyRangeFromJSON} from '../../src/keyspace/keyrange.js'
import type {BinlogTransaction} from '../../src/mysql/binlog.js'
import {describeSchema} from '../../src/mysql/tables.js'
import {applyStatements, type ApplyOp} from '../../src/phases/streams/apply-sql.js'
import {readersStarted, subscribe, type Feed} from '../../src/phases/streams/binlog-hub.js'
import {ensureStateTables, writeStreamStart} from '../../src/phases/streams/state.js'
import {Stream} from '../../src/phases/streams/stream.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'

const ROWS = 60_000
let c: TestCluster
const feeds: Feed[] = []
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
  for (const f of feeds) f.stop()
  await Promise.all(streams.map((s) => s.stop()))
  for (const d of dests) await d.end()
  await c?.stop()
})

async function sourcePos(): Promise<string> {
  const [r] = await c.query<{p: string}>('test-100', 'SELECT @@gtid_binlog_pos AS p')
  return String(r!.p)
}

let next = 1
/** `n` single-row transactions; returns their pages. */
async function write(n: number): Promise<number[]> {
  const pages: number[] = []
  for (let i = 0; i < n; i++, next++) {
    await c.query('test-100', `INSERT INTO messages VALUES (${next}, ${next}, 'hub')`)
    pages.push(next)
  }
  return pages
}

interface Sub {
  pages: number[]
  feed: Feed
}

async function open(from: string): Promise<Sub> {
  const sub = {pages: [] as number[]} as Sub
  sub.feed = await subscribe({
    tablet: c.tablet('test-100'),
    database: c.layouts[0]!.database,
    fromGtid: from,
    onTransaction: (tx: BinlogTransaction) => {
      for (const ch of tx.changes) sub.pages.push(Number(ch.after!.page))
    },
    onError: (err) => {
      throw err
    },
  })
  feeds.push(sub.feed)
  return sub
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i % 100 === 99) console.log(`still waiting for ${what}`)
    await sleep(20)
  }
}

const range = (a: number, b: number) => Array.from({length: b - a + 1}, (_, i) => a + i)

it('subscribers share one reader, each from its own position, exactly once across a rewind', async () => {
  const p0 = await sourcePos()
  await write(10)
  const p1 = await sourcePos()
  await write(10)
  const before = readersStarted()
  const [a, b] = await Promise.all([open(p0), open(p1)])
  expect(readersStarted() - before).toBe(1)
  await until('a has 20 rows and b 10', () => a.pages.length >= 20 && b.pages.length >= 10)

  // Behind the reader: it starts again from p0, and a and b skip what they already have.
  const late = await open(p0)
  expect(readersStarted() - before).toBe(2)
  await write(5)
  await until('every subscriber has rows 1..25', () => a.pages.length >= 25 && late.pages.length >= 25)
  await until('b has rows 11..25', () => b.pages.length >= 15)
  expect(a.pages).toEqual(range(1, 25))
  expect(late.pages).toEqual(range(1, 25))
  expect(b.pages).toEqual(range(11, 25))

  // One leaving does not disturb the others.
  a.feed.stop()
  await write(3)
  await until('b and late have rows up to 28', () => b.pages.length >= 18 && late.pages.length >= 28)
  expect(b.pages).toEqual(range(11, 28))
  expect(late.pages).toEqual(range(1, 28))
  expect(a.pages).toEqual(range(1, 25))

  // The last one out stops the reader: the next subscriber starts a new one.
  b.feed.stop()
  late.feed.stop()
  const p2 = await sourcePos()
  const again = await open(p2)
  expect(readersStarted() - before).toBe(3)
  await write(2)
  await until('the new subscriber has rows 29..30', () => again.pages.length >= 2)
  expect(again.pages).toEqual([29, 30])
})

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

  await c.query('test-100', `INSERT INTO messages SELECT seq + 1000, seq, 'held' FROM seq_1_to_${ROWS}`)
  await c.query('test-100', `INSERT INTO messages VALUES (${ROWS + 1001}, 1, 'after')`)
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

it("a batch's key-list deletes read the primary key, for one key as for many (never a scan of the table)", async () => {
  const [info] = (await describeSchema(dests[0]!, c.layouts[1]!.database)).tables.filter((t) => t.name === 'messages')
  const row = (page: number) => ({page, time_created_ns: 1, message: 'x'})
  for (const n of [1, 3]) {
    const ops: ApplyOp[] = Array.from({length: n}, (_, i) => ({kind: 'delete', table: info!, row: row(1001 + i)}))
    const [stmt] = applyStatements(c.layouts[1]!.database, ops)
    const [plan] = (await dests[0]!.query(`EXPLAIN ${stmt}`)) as unknown as [Array<{type: string; key: string | null}>]
    expect(plan[0], stmt).toMatchObject({key: 'PRIMARY'})
    expect(plan[0]!.type, stmt).not.toBe('ALL')
  }
})
