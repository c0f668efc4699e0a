// One binlog reader per source in a process (binlog-hub.ts): subscribers opened together share one reader started at
// the earliest of their positions; each receives exactly the transactions after its own position, once and in order;
// a subscriber behind the reader rewinds it without the others seeing anything twice; the last one to leave stops it.
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import type {BinlogTransaction} from '../../src/mysql/binlog.js'
import {readersStarted, subscribe, type Feed} from '../../src/phases/streams/binlog-hub.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'

let c: TestCluster
const feeds: Feed[] = []

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml')], {init: 0, schema: true})
}, 180_000)

afterAll(async () => {
  for (const f of feeds) f.stop()
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
