// A stream's transaction queue against a stand-in for the shared binlog reader: a held stream with a full queue leaves
// the reader, and when it joins again, every transaction the new subscription delivers is queued — also those the
// reader hands over before the subscription's promise resolves (it does while it gathers other joiners).
import {beforeEach, describe, expect, it, vi} from 'vitest'
import type {BinlogTransaction} from '../../src/mysql/binlog.js'
import {parseGtidPos} from '../../src/mysql/gtid.js'
import type {Feed, FeedOptions} from '../../src/phases/streams/binlog-hub.js'

interface FakeSub {
  o: FeedOptions
  feed: Feed & {stopped: boolean; paused: boolean}
  resolve: () => void
}
const subs: FakeSub[] = []

vi.mock('../../src/phases/streams/binlog-hub.js', () => ({
  subscribe: (o: FeedOptions) =>
    new Promise<Feed>((resolve) => {
      const feed = {
        stopped: false,
        paused: false,
        pause: () => void (feed.paused = true),
        resume: () => void (feed.paused = false),
        stop: () => void (feed.stopped = true),
      }
      subs.push({o, feed, resolve: () => resolve(feed)})
    }),
}))

const {TransactionQueue} = await import('../../src/phases/streams/tx-queue.js')

const tx = (seq: number, changes = 1): BinlogTransaction => ({
  gtid: `0-1-${seq}`,
  timestamp: seq,
  changes: Array.from({length: changes}, () => ({kind: 'insert' as const, table: 't', after: {id: seq}})),
})

let held = false
function queue() {
  return new TransactionQueue({
    tablet: {alias: 'src-100'} as never,
    database: 'db',
    held: () => held,
    live: () => true,
    arrived: () => undefined,
    wake: () => undefined,
    paused: () => undefined,
    failed: (err) => {
      throw err
    },
  })
}

beforeEach(() => {
  subs.length = 0
  held = false
})

describe('TransactionQueue', () => {
  it('held with a full queue it leaves the reader, and joins again from the end of its queue, losing nothing', async () => {
    const q = queue()
    const started = q.start('0-1-10')
    subs[0]!.resolve()
    await started
    held = true
    // One transaction bigger than the queue's bound: the queue is full while held.
    subs[0]!.o.onTransaction(tx(11, 50_001))
    expect(subs[0]!.feed.stopped).toBe(true)
    expect(q.takeBatch(parseGtidPos('0-1-10'), parseGtidPos('0-1-10'))).toEqual([])
    held = false
    expect(q.takeBatch(parseGtidPos('0-1-10'), undefined).map((t) => t.gtid)).toEqual(['0-1-11'])
    q.rejoin()
    expect(subs).toHaveLength(2)
    expect(subs[1]!.o.fromGtid).toBe('0-1-11')
    // The reader delivers before the subscription's promise resolves.
    subs[1]!.o.onTransaction(tx(12))
    subs[1]!.resolve()
    await new Promise((r) => setTimeout(r, 0))
    subs[1]!.o.onTransaction(tx(13))
    expect(q.takeBatch(parseGtidPos('0-1-11'), undefined).map((t) => t.gtid)).toEqual(['0-1-12', '0-1-13'])
  })

  it('a batch stops exactly at the pause target', async () => {
    const q = queue()
    const started = q.start('0-1-10')
    subs[0]!.resolve()
    await started
    for (const s of [11, 12, 13]) subs[0]!.o.onTransaction(tx(s))
    expect(q.takeBatch(parseGtidPos('0-1-10'), parseGtidPos('0-1-12')).map((t) => t.gtid)).toEqual(['0-1-11', '0-1-12'])
    expect(q.takeBatch(parseGtidPos('0-1-12'), undefined).map((t) => t.gtid)).toEqual(['0-1-13'])
  })
})
