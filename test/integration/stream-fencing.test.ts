// Fencing at the stream level (issue 12), without process timing: two Stream objects for the same stream id with
// different owner tokens, as two appliers would run them. The second one's claim takes the stream over; the first
// one's next batch (and its next DDL, with onDdl: exec) is refused by the destination and rolled back, it stops as
// "fenced" saying who took over, and it cannot claim the stream back. Every source row arrives exactly once. The same
// for a copy: a clone run another one took over has its next chunk refused.
import type {Connection} from 'mysql2/promise'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {isErrorCode} from '../../src/errors.js'
import {keyRangeFromJSON} from '../../src/keyspace/keyrange.js'
import {Stream} from '../../src/phases/streams/stream.js'
import type {StreamSpec} from '../../src/phases/streams/types.js'
import {ensureStateTables, readStream, writeStreamStart} from '../../src/phases/streams/state.js'
import {copyTable} from '../../src/mysql/copy.js'
import {describeSchema} from '../../src/mysql/tables.js'
import {fenced, takeCopy} from '../../src/phases/copy-fence.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'

const ID = 'test_keyspace/0->-80'
let c: TestCluster
let dest: Connection
const streams: Stream[] = []

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {
    init: 0,
    schema: true,
  })
  dest = await c.connect('test-200', 'admin')
  await dest.query(
    'CREATE TABLE messages (page BIGINT UNSIGNED, time_created_ns BIGINT UNSIGNED, message VARCHAR(10000), PRIMARY KEY (page, time_created_ns)) ENGINE=InnoDB',
  )
  await ensureStateTables(dest)
  await writeStreamStart(dest, ID, 'wf-fencing', '0', await sourcePos())
}, 180_000)

afterAll(async () => {
  for (const s of streams) await s.stop().catch(() => undefined)
  await dest?.end()
  await c?.stop()
})

async function sourcePos(): Promise<string> {
  const [r] = await c.query<{p: string}>('test-100', 'SELECT @@gtid_binlog_pos AS p')
  return String(r!.p)
}

async function insertOnSource(from: number, n: number): Promise<string> {
  await c.query(
    'test-100',
    `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, CONCAT('row ', seq) FROM seq_${from}_to_${from + n - 1}`,
  )
  return sourcePos()
}

async function destRows(): Promise<number> {
  const [rows] = (await dest.query('SELECT COUNT(*) AS n, COUNT(DISTINCT page) AS d FROM messages')) as unknown as [
    Array<{n: number; d: number}>,
  ]
  expect(Number(rows[0]!.d), 'each row once').toBe(Number(rows[0]!.n))
  return Number(rows[0]!.n)
}

async function start(owner: string): Promise<Stream> {
  const layout = c.layouts[1]!
  const all = keyRangeFromJSON({start: '', end: ''})
  const spec: StreamSpec = {
    id: ID,
    workflow: 'wf-fencing',
    database: layout.database,
    sourceShard: '0',
    source: c.tablet('test-100'),
    destinationShard: '-80',
    destination: c.tablet('test-200'),
    // One destination for the whole range: every source row belongs here, so counts compare directly.
    destRange: all,
    groupDestinations: [{name: '-80', kr: all}],
    vschema: layout.vschema,
    referenceTables: true,
    onDdl: 'exec',
    owner,
  }
  const s = await Stream.start(spec)
  streams.push(s)
  return s
}

/** The error a stream's wait ends with (it must end with one). */
async function refusal(p: Promise<boolean>): Promise<Error> {
  const r = await p.then(
    (ok) => new Error(`the wait ended without an error (reached: ${ok})`),
    (e: unknown) => e as Error,
  )
  return r
}

describe('two appliers of one stream', () => {
  let a: Stream
  let b: Stream

  it('a streams table of an older version gets the owner columns on first use, once', async () => {
    await dest.query('ALTER TABLE _shardform.streams DROP COLUMN owner, DROP COLUMN owned_at')
    const columns = async () => {
      const [rows] = (await dest.query(
        `SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '_shardform' AND TABLE_NAME = 'streams' AND COLUMN_NAME LIKE 'own%' ORDER BY 1`,
      )) as unknown as [Array<{c: string}>]
      return rows.map((r) => String(r.c))
    }
    expect(await columns()).toEqual([])
    await ensureStateTables(dest)
    await ensureStateTables(dest)
    expect(await columns()).toEqual(['owned_at', 'owner'])
    expect((await readStream(dest, ID))?.position).toBeDefined()
  })

  it('the second claims it: the first one’s next batch is refused and rolled back; nothing is applied twice', async () => {
    a = await start('applier-A')
    const p1 = await insertOnSource(1, 10)
    expect(await a.waitUntil(p1, 60_000)).toBe(true)
    expect(await destRows()).toBe(10)
    const before = (await readStream(dest, ID))!

    // B starts (takes the stream over) and holds: no write on the source since, so it applied nothing yet.
    b = await start('applier-B')
    await b.hold()
    const p2 = await insertOnSource(11, 5)
    const err = await refusal(a.waitUntil(p2, 60_000))
    console.log(`stale applier: ${err.message.split('\n')[0]}`)
    expect(isErrorCode(err, 'phase.stream_fenced'), err.message).toBe(true)
    expect(err.message).toContain('applier-B')
    expect(a.status().state).toBe('fenced')
    expect(a.fenced).toBe(err)
    // The refused batch left nothing: neither rows nor position.
    expect(await destRows()).toBe(10)
    const after = (await readStream(dest, ID))!
    expect(after.position).toBe(before.position)
    expect(after.transactions).toBe(before.transactions)

    // The stale applier cannot claim the stream back within its run.
    const again = await Stream.start({...a.spec}).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isErrorCode(again, 'phase.stream_fenced'), String(again)).toBe(true)

    b.unpause()
    expect(await b.waitUntil(p2, 60_000)).toBe(true)
    expect(await destRows()).toBe(15)
    const last = (await readStream(dest, ID))!
    expect(last.transactions).toBe(before.transactions + 1)
    expect(last.rowChanges).toBe(before.rowChanges + 5)
  }, 120_000)

  it('a stale applier never runs a source DDL (onDdl: exec): the owner runs it once', async () => {
    // C takes over from B and holds; B (still running) now meets a DDL on the source.
    const cStream = await start('applier-C')
    await cStream.hold()
    await c.query('test-100', 'ALTER TABLE messages ADD COLUMN fenced_probe INT NULL')
    const p = await sourcePos()
    const err = await refusal(b.waitUntil(p, 60_000))
    expect(isErrorCode(err, 'phase.stream_fenced'), err.message).toBe(true)
    expect(err.message).toContain('applier-C')
    const cols = async () => {
      const [rows] = (await dest.query(
        `SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_NAME = 'messages' AND COLUMN_NAME = 'fenced_probe'`,
      )) as unknown as [Array<{n: number}>]
      return Number(rows[0]!.n)
    }
    expect(await cols(), 'the stale applier did not run the DDL').toBe(0)

    cStream.unpause()
    expect(await cStream.waitUntil(p, 60_000)).toBe(true)
    expect(await cols()).toBe(1)
    const p2 = await insertOnSource(16, 3)
    expect(await cStream.waitUntil(p2, 60_000)).toBe(true)
    expect(await destRows()).toBe(18)
  }, 120_000)
})

describe('two runs of one copy', () => {
  // A clone run paused past its lease and resumed: the run that took the copy over owns it on the destination, and
  // every chunk of the stale one is refused in its own transaction (rolled back, nothing written).
  it('the stale run’s chunk is refused and rolled back; the owner’s is written', async () => {
    const src = await c.connect('test-100', 'admin')
    try {
      const db = c.layouts[1]!.database
      for (const conn of [src, dest]) {
        await conn.query('SET SESSION sql_log_bin = 0')
        await conn.query(`CREATE TABLE \`${db}\`.fence_t (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB`)
      }
      await src.query(`INSERT INTO \`${db}\`.fence_t SELECT seq, 'x' FROM seq_1_to_100`)
      const copyId = 'test_keyspace/clone/0'
      await takeCopy(dest, copyId, 'run A')
      await takeCopy(dest, copyId, 'run B')
      const table = (await describeSchema(src, db)).tables.find((t) => t.name === 'fence_t')!
      const copy = (owner: string) =>
        copyTable({
          source: src,
          database: db,
          table,
          destinations: [{conn: dest, alias: 'test-200'}],
          routeMany: (rows) => rows.map(() => 0),
          fence: (d, write) => fenced(d.conn, copyId, owner, d.alias, write),
        })
      const err = await copy('run A').catch((e: unknown) => e)
      expect(isErrorCode(err, 'phase.copy_fenced'), String(err)).toBe(true)
      expect(String(err)).toMatch(/taken over by another run \(run B\)/)
      const count = async () => {
        const [rows] = (await dest.query(`SELECT COUNT(*) AS n FROM \`${db}\`.fence_t`)) as unknown as [
          Array<{n: number | string}>,
        ]
        return Number(rows[0]!.n)
      }
      expect(await count()).toBe(0)
      expect((await copy('run B')).rows).toBe(100)
      expect(await count()).toBe(100)
    } finally {
      await src.end()
    }
  })
})
