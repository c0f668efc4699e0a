// The router against real MariaDB and etcd (and the file backend): routing by keyspace id for every tablet type,
// following SrvKeyspace changes while running, unsharded keyspaces, and write buffering across a simulated cutover.
import {setTimeout as sleep} from 'node:timers/promises'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {keyRangeContains, keyRangeFromJSON} from '../../src/keyspace/keyrange.js'
import {keyspaceId} from '../../src/keyspace/vindexes/index.js'
import {Router, RouterError, type RoutingSnapshot} from '../../src/routing/index.js'
import {initKeyspace} from '../../src/layout/init.js'
import {openTopo} from '../../src/topo/open.js'
import type {TopoStore} from '../../src/topo/store.js'
import {
  GUESTBOOK_SCHEMA,
  addShards,
  guestbookFile,
  setServing,
  startTestCluster,
  type TestCluster,
} from '../helpers/cluster.js'

const KS = 'test_keyspace'
let c: TestCluster
const stores: TopoStore[] = []
const routers: Router[] = []

async function store(url: string): Promise<TopoStore> {
  const s = await openTopo(url)
  stores.push(s)
  return s
}

async function router(s: TopoStore, bufferWindowMs?: number): Promise<Router> {
  const r = await Router.open({store: s, keyspace: KS, bufferWindowMs, retryIntervalMs: 100})
  routers.push(r)
  return r
}

/** A topology where 2-shards.yaml serves and shard 0 (1-shard.yaml) exists but serves nothing. */
async function shardedTopo(url: string): Promise<TopoStore> {
  const s = await store(url)
  await initKeyspace(s, c.layouts[1]!)
  await addShards(s, c.layouts[0]!)
  return s
}

/** Resolves with the first topology the router adopts for which `ok` holds (no deadline: the test's timeout is it). */
function adopted(r: Router, ok: (s: RoutingSnapshot) => boolean): Promise<RoutingSnapshot> {
  return new Promise((resolve) => {
    const off = r.onChange((s) => {
      if (!ok(s)) return
      off()
      resolve(s)
    })
  })
}

function shardOf(page: bigint | number): string {
  const id = keyspaceId('hash', BigInt(page))
  return c.layouts[1]!.shards.find((s) => keyRangeContains(keyRangeFromJSON(s.keyRange), id))!.name
}

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')])
  for (const alias of ['test-100', 'test-200', 'test-300']) await c.query(alias, GUESTBOOK_SCHEMA)
  await c.waitReplication()
})

afterAll(async () => {
  await Promise.allSettled(routers.map((r) => r.close()))
  await Promise.allSettled(stores.map((s) => s.close()))
  await c?.stop()
})

describe('router', () => {
  it('routes by keyspace id to the serving shard, for each tablet type', async () => {
    const r = await router(await shardedTopo(c.etcd!.newUrl()))
    // hash vindex: 1→166b…, 2→06e7…, 3→4eb1…, 5→70bb… are below 0x80; 4→d2fd…, 6→f098… above.
    const expected: Record<number, string> = {1: '-80', 2: '-80', 3: '-80', 4: '80-', 5: '-80', 6: '80-'}
    const aliases = {
      '-80': {primary: 'test-200', replica: 'test-201', rdonly: 'test-202'},
      '80-': {primary: 'test-300', replica: 'test-301', rdonly: 'test-302'},
    } as const
    for (const [v, shard] of Object.entries(expected)) {
      for (const type of ['primary', 'replica', 'rdonly'] as const) {
        const t = r.route('messages', v, type)
        expect(t.shard, `${v} ${type}`).toBe(shard)
        expect(t.tablet.alias, `${v} ${type}`).toBe(aliases[shard as '-80' | '80-'][type])
        expect(t.keyspaceId!.toString('hex')).toBe(keyspaceId('hash', v).toString('hex'))
        const conn = await r.connection('messages', v, type)
        try {
          const [rows] = await conn.query('SELECT @@port AS port, DATABASE() AS db, CURRENT_USER() AS u')
          expect(rows).toEqual([{port: String(t.tablet.port), db: 'vt_test_keyspace', u: 'app@127.0.0.1'}])
        } finally {
          conn.release()
        }
      }
    }

    // Writes land on the primary of the shard holding the row's keyspace id, and nowhere else.
    const pages = Array.from({length: 30}, (_, i) => BigInt(i + 1) * 7919n + (i % 3 === 0 ? 1n << 63n : 0n))
    for (const p of pages) {
      const res = await r.execute(
        'messages',
        p,
        'INSERT INTO messages (page, time_created_ns, message) VALUES (?, 1, ?)',
        [p, `row ${p}`],
      )
      expect(res.target.shard).toBe(shardOf(p))
      expect(res.bufferedMs).toBe(0)
    }
    const on200 = (
      await c.query<{page: string}>('test-200', 'SELECT page FROM messages WHERE time_created_ns = 1')
    ).map((x) => x.page)
    const on300 = (
      await c.query<{page: string}>('test-300', 'SELECT page FROM messages WHERE time_created_ns = 1')
    ).map((x) => x.page)
    expect(on200.sort()).toEqual(
      pages
        .filter((p) => shardOf(p) === '-80')
        .map(String)
        .sort(),
    )
    expect(on300.sort()).toEqual(
      pages
        .filter((p) => shardOf(p) === '80-')
        .map(String)
        .sort(),
    )
    expect(on200.length).toBeGreaterThan(5)
    expect(on300.length).toBeGreaterThan(5)

    // Reads through replica and rdonly tablets find the replicated rows (and really run there).
    await c.waitReplication()
    for (const p of pages.slice(0, 6)) {
      for (const type of ['replica', 'rdonly'] as const) {
        const res = await r.execute<Array<{message: string; port: string}>>(
          'messages',
          p,
          'SELECT message, @@port AS port FROM messages WHERE page = ? AND time_created_ns = 1',
          [p],
          {tabletType: type},
        )
        expect(res.rows).toEqual([{message: `row ${p}`, port: String(res.target.tablet.port)}])
        expect(res.target.tablet.type).toBe(type)
      }
    }
    await expect(async () => r.route('nope', 1)).rejects.toThrow(/not in the vschema/)
    await expect(async () => r.route('messages', null)).rejects.toThrow(/NULL has no keyspace id/)
  })

  for (const backend of ['etcd', 'file'] as const) {
    it(`follows a SrvKeyspace change made while it runs (${backend} backend), without a restart`, async () => {
      const url = backend === 'etcd' ? c.etcd!.newUrl() : `file:${join(c.dir, 'router-file-topo')}`
      const s = await shardedTopo(url)
      const r = await router(s)
      expect(r.route('messages', 4).tablet.alias).toBe('test-300')
      const gen = r.stats().generation
      // Serve everything from shard 0 for reads, keep primaries where they are. The router has no timer that re-reads
      // the topology while nothing is held: it adopts the change only through its watch.
      const changedAt = Date.now()
      const readsOnZero = adopted(r, (snap) => snap.srvKeyspace.partitions.replica.join() === '0')
      await setServing(s, KS, {replica: ['0'], rdonly: ['0']})
      const snap = await readsOnZero
      console.log(`router followed a SrvKeyspace change (${backend}) in ${Date.now() - changedAt} ms`)
      expect(snap.generation).toBeGreaterThan(gen)
      expect(r.route('messages', 4, 'replica').tablet.alias).toBe('test-101')
      expect(r.route('messages', 1, 'rdonly').tablet.alias).toBe('test-102')
      expect(r.route('messages', 4, 'primary').tablet.alias).toBe('test-300')
      const res = await r.execute<Array<{port: string}>>('messages', 4, 'SELECT @@port AS port', [], {
        tabletType: 'replica',
      })
      expect(res.rows[0]!.port).toBe(String(c.tablet('test-101').port))
      // And back.
      const back = adopted(r, (x) => x.srvKeyspace.partitions.replica.join() === '-80,80-')
      await setServing(s, KS, {replica: ['-80', '80-'], rdonly: ['-80', '80-'], primary: ['-80', '80-']})
      await back
      expect(r.route('messages', 4, 'replica').tablet.alias).toBe('test-301')
    })
  }

  it('routes everything of an unsharded keyspace to shard 0', async () => {
    const s = await store(c.etcd!.newUrl())
    await initKeyspace(s, c.layouts[0]!)
    const r = await router(s)
    for (const v of [1, 4, 6, '18446744073709551615', 'not even a number']) {
      expect(r.route('messages', v).shard).toBe('0')
      expect(r.route('messages', v).tablet.alias).toBe('test-100')
      expect(r.route('messages', v, 'replica').tablet.alias).toBe('test-101')
      expect(r.route('messages', v).keyspaceId).toBeNull()
    }
    const res = await r.execute<Array<{port: string}>>('messages', 4, 'SELECT @@port AS port')
    expect(res.rows[0]!.port).toBe(String(c.tablet('test-100').port))
  })

  it('holds writes across a simulated cutover: primary read-only, SrvKeyspace switched 1.5 s later, zero client errors', async () => {
    // Shard 0 serves; -80 and 80- exist (with the schema) and serve nothing; the vschema is already sharded.
    const s = await shardedTopo(c.etcd!.newUrl())
    await setServing(s, KS, {primary: ['0'], replica: ['0'], rdonly: ['0']})
    const r = await router(s)
    expect(r.route('messages', 4).shard).toBe('0')

    const acked: Array<{page: bigint; shard: string; at: number; bufferedMs: number}> = []
    const errors: unknown[] = []
    let next = 5_000_000n
    let stop = false
    let switchAt = 0
    const writer = async () => {
      while (!stop) {
        const page = next++
        try {
          const res = await r.execute(
            'messages',
            page,
            'INSERT INTO messages (page, time_created_ns, message) VALUES (?, 2, ?)',
            [page, `cutover ${page}`],
          )
          acked.push({page, shard: res.target.shard, at: Date.now(), bufferedMs: res.bufferedMs})
        } catch (err) {
          errors.push(err)
        }
        await sleep(5)
      }
    }
    const writers = Array.from({length: 4}, writer)
    await sleep(500)
    await c.query('test-100', 'SET GLOBAL read_only = 1')
    // Rows on shard 0 once it refuses writes: no more may arrive there.
    const onZeroAtReadOnly = await c.query<{n: string}>(
      'test-100',
      'SELECT COUNT(*) AS n FROM messages WHERE time_created_ns = 2',
    )
    await sleep(1_500)
    const switched = adopted(r, (x) => x.srvKeyspace.partitions.primary.join() === '-80,80-')
    // Taken before the switch is written: no write can reach a new shard before it.
    switchAt = Date.now()
    await setServing(s, KS, {primary: ['-80', '80-']})
    await switched
    await sleep(1_000)
    stop = true
    await Promise.all(writers)
    await c.query('test-100', 'SET GLOBAL read_only = 0')

    expect(errors).toEqual([])
    const st = r.stats()
    console.log(
      `cutover: ${acked.length} writes acknowledged, ${st.buffered} held (max ${Math.round(st.maxBufferedMs)} ms), 0 errors`,
    )
    expect(st.buffered).toBeGreaterThanOrEqual(4)
    expect(st.bufferedOk).toBe(st.buffered)
    expect(st.bufferTimeouts).toBe(0)
    // Every held write was let go by the switch: acknowledged by a new shard, none by shard 0.
    const held = acked.filter((a) => a.bufferedMs > 0)
    expect(held.length).toBe(st.buffered)
    expect(held.every((a) => a.shard !== '0' && a.at >= switchAt)).toBe(true)
    // Nothing was written to shard 0 once it was read-only; everything after the switch went to the new shards.
    const before = acked.filter((a) => a.shard === '0')
    const after = acked.filter((a) => a.shard !== '0')
    expect(after.length).toBeGreaterThan(st.buffered)
    expect(after.every((a) => a.at >= switchAt)).toBe(true)
    expect(after.every((a) => a.shard === shardOf(a.page))).toBe(true)
    const onZero = await c.query<{page: string}>('test-100', 'SELECT page FROM messages WHERE time_created_ns = 2')
    expect(onZero.length).toBe(Number(onZeroAtReadOnly[0]!.n))
    expect(onZero.map((x) => x.page).sort()).toEqual(before.map((a) => String(a.page)).sort())
    const onNew = [
      ...(await c.query<{page: string}>('test-200', 'SELECT page FROM messages WHERE time_created_ns = 2')),
      ...(await c.query<{page: string}>('test-300', 'SELECT page FROM messages WHERE time_created_ns = 2')),
    ].map((x) => x.page)
    expect(onNew.sort()).toEqual(after.map((a) => String(a.page)).sort())
  })

  it('surfaces the error once the buffer window is exhausted, and the write was not applied', async () => {
    const s = await shardedTopo(c.etcd!.newUrl())
    const r = await router(s, 600)
    const page = 1n // → -80
    await c.query('test-200', 'SET GLOBAL read_only = 1')
    try {
      const err = await r
        .execute('messages', page, 'INSERT INTO messages (page, time_created_ns, message) VALUES (?, 3, ?)', [
          page,
          'never',
        ])
        .catch((e) => e)
      expect(err).toBeInstanceOf(RouterError)
      expect((err as RouterError).code).toBe('buffer_timeout')
      expect((err as RouterError).uncertain).toBe(false)
      expect((err as RouterError).message).toMatch(/read-only/)
      // Given up only once the window was used up, by the router's own account.
      const held = /held for (\d+) ms \(buffer window 600 ms\)/.exec((err as RouterError).message)
      expect(held, (err as RouterError).message).not.toBeNull()
      expect(Number(held![1])).toBeGreaterThanOrEqual(600)
      expect(r.stats()).toMatchObject({buffered: 1, bufferTimeouts: 1, bufferedOk: 0, holding: 0})
    } finally {
      await c.query('test-200', 'SET GLOBAL read_only = 0')
    }
    expect(await c.query('test-200', 'SELECT * FROM messages WHERE time_created_ns = 3')).toEqual([])
  })

  it('never retries a statement whose connection broke mid-flight: RouterError uncertain', async () => {
    const s = await shardedTopo(c.etcd!.newUrl())
    const r = await router(s)
    const running = r
      .execute('messages', 4, 'SELECT SLEEP(20) AS s, ? AS tag', ['uncertain-probe'])
      .catch((e: unknown) => e)
    let id: string | undefined
    for (let i = 0; i < 100 && !id; i++) {
      await sleep(50)
      const rows = await c.query<{ID: string}>(
        'test-300',
        "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%uncertain-probe%' AND INFO NOT LIKE '%PROCESSLIST%'",
      )
      id = rows[0]?.ID
    }
    expect(id).toBeDefined()
    await c.query('test-300', `KILL CONNECTION ${Number(id)}`)
    const err = await running
    expect(err).toBeInstanceOf(RouterError)
    expect((err as RouterError).code).toBe('uncertain')
    expect(r.stats().buffered).toBe(0)
  })
})
