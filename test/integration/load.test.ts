// The load generator and `load verify` against real MariaDB and etcd: a clean run verifies clean; planted damage
// (deleted, duplicated, misplaced, altered, resurrected rows) is caught; a run across a simulated cutover loses
// nothing; the CLI does the same and exits 1 on damage.
import {execFile} from 'node:child_process'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {keyRangeContains, keyRangeFromJSON} from '../../src/keyspace/keyrange.js'
import {keyspaceId} from '../../src/keyspace/vindexes/index.js'
import {readJournal, runLoad, verifyJournal, type JournalChange} from '../../src/load/index.js'
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
const ROOT = new URL('../../', import.meta.url).pathname
const run = promisify(execFile)
let c: TestCluster
const stores: TopoStore[] = []

function shardOf(page: string | bigint): string {
  const id = keyspaceId('hash', BigInt(page))
  return c.layouts[1]!.shards.find((s) => keyRangeContains(keyRangeFromJSON(s.keyRange), id))!.name
}
const primaryOf = (shard: string) => (shard === '-80' ? 'test-200' : shard === '80-' ? 'test-300' : 'test-100')
const other = (shard: string) => (shard === '-80' ? '80-' : '-80')

/** A fresh topology root: 2-shards.yaml serving (sharded vschema), shard 0 registered but serving nothing. */
async function topo(): Promise<{store: TopoStore; url: string}> {
  const url = c.etcd!.newUrl()
  const store = await openTopo(url)
  stores.push(store)
  await initKeyspace(store, c.layouts[1]!)
  await addShards(store, c.layouts[0]!)
  return {store, url}
}

async function clearTables(): Promise<void> {
  for (const a of ['test-100', 'test-200', 'test-300']) await c.query(a, 'DELETE FROM messages')
}

/** Final state per key from a journal: last acknowledged op and hash. */
async function finalState(file: string): Promise<Map<string, JournalChange>> {
  const m = new Map<string, JournalChange>()
  for await (const l of readJournal(file)) if (!('type' in l) && !l.failed) m.set(`${l.page}:${l.ts}`, l)
  return m
}

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')])
  for (const alias of ['test-100', 'test-200', 'test-300']) await c.query(alias, GUESTBOOK_SCHEMA)
})

afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()))
  await c?.stop()
})

describe('load generator and verify', () => {
  const journal = () => join(c.dir, 'clean.jsonl')

  it('runs the guestbook load through the router and verifies clean', async () => {
    const {store} = await topo()
    const s = await runLoad({store, keyspace: KS, rate: 400, durationMs: 2_000, concurrency: 4, journalFile: journal()})
    expect(s.errors).toBe(0)
    expect(s.acknowledged).toBeGreaterThan(400)
    expect(s.ops.update).toBeGreaterThan(0)
    expect(s.ops.delete).toBeGreaterThan(0)
    expect(s.latencyMs.p50).toBeGreaterThan(0)
    expect(s.latencyMs.max).toBeGreaterThanOrEqual(s.latencyMs.p99)
    const r = await verifyJournal({store, keyspace: KS, journalFile: journal()})
    expect(r.differences).toEqual([])
    expect(r.ok).toBe(true)
    expect(r.counts).toMatchObject({
      present: s.liveRows,
      expected: s.liveRows,
      missing: 0,
      duplicated: 0,
      misplaced: 0,
      wrongContent: 0,
      notDeleted: 0,
      unexpected: 0,
    })
    expect(r.counts.deleted).toBe(s.ops.delete)
    expect(r.shards.map((x) => x.shard)).toEqual(['-80', '80-'])
    // Unsigned values ≥ 2^63 were written and read back intact.
    expect([...(await finalState(journal())).values()].some((l) => BigInt(l.page) >= 1n << 63n)).toBe(true)
  })

  it('catches a deleted row, a duplicated row, a row in the wrong shard, altered content and a resurrected row', async () => {
    // Its own clean run to damage (not the previous test's): empty tables, a journal of its own.
    await clearTables()
    const {store} = await topo()
    const journal = () => join(c.dir, 'damage.jsonl')
    const s = await runLoad({store, keyspace: KS, rate: 400, durationMs: 2_000, concurrency: 4, journalFile: journal()})
    expect(s.errors).toBe(0)
    const state = [...(await finalState(journal())).entries()]
    const live = state.filter(([, l]) => l.op !== 'delete').map(([k]) => k.split(':') as [string, string])
    const dead = state.filter(([, l]) => l.op === 'delete').map(([k]) => k.split(':') as [string, string])
    const [gone, twice, moved, altered] = live
    const [back] = dead
    expect(altered && back, `${live.length} live and ${dead.length} deleted rows to damage`).toBeTruthy()
    const row = async ([page, ts]: [string, string]) =>
      (
        await c.query<{message: string}>(
          primaryOf(shardOf(page)),
          'SELECT message FROM messages WHERE page = ? AND time_created_ns = ?',
          [page, ts],
        )
      )[0]!.message
    const del = ([page, ts]: [string, string], shard: string) =>
      c.query(primaryOf(shard), 'DELETE FROM messages WHERE page = ? AND time_created_ns = ?', [page, ts])
    const ins = ([page, ts]: [string, string], shard: string, message: string) =>
      c.query(primaryOf(shard), 'INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)', [
        page,
        ts,
        message,
      ])

    await del(gone!, shardOf(gone![0]))
    await ins(twice!, other(shardOf(twice![0])), await row(twice!))
    const movedMsg = await row(moved!)
    await del(moved!, shardOf(moved![0]))
    await ins(moved!, other(shardOf(moved![0])), movedMsg)
    await c.query(
      primaryOf(shardOf(altered![0])),
      "UPDATE messages SET message = 'tampered' WHERE page = ? AND time_created_ns = ?",
      altered!,
    )
    await ins(back!, shardOf(back![0]), 'back from the dead')

    const r = await verifyJournal({store, keyspace: KS, journalFile: journal()})
    expect(r.ok).toBe(false)
    expect(r.counts).toMatchObject({
      missing: 1,
      duplicated: 1,
      misplaced: 2,
      wrongContent: 1,
      notDeleted: 1,
      unexpected: 0,
    })
    const find = (kind: string, key: [string, string]) =>
      r.differences.filter((d) => d.kind === kind && d.page === key[0] && d.ts === key[1])
    expect(find('missing', gone!)).toHaveLength(1)
    expect(find('duplicated', twice!)[0]!.shards.sort()).toEqual(['-80', '80-'])
    expect(find('misplaced', moved!)[0]!.shards).toEqual([other(shardOf(moved![0]))])
    expect(find('misplaced', twice!)).toHaveLength(1)
    expect(find('wrong_content', altered!)).toHaveLength(1)
    expect(find('not_deleted', back!)).toHaveLength(1)

    // A row in no journal is reported, and is a failure only with strict.
    await clearTables()
    await ins(['42', '42'], shardOf('42'), 'stranger')
    const lenient = await verifyJournal({store, keyspace: KS, journalFile: journal()})
    expect(lenient.counts.unexpected).toBe(1)
    expect(lenient.counts.missing).toBe(live.length)
    const strictEmpty = join(c.dir, 'empty.jsonl')
    await import('node:fs/promises').then((fs) => fs.writeFile(strictEmpty, ''))
    expect((await verifyJournal({store, keyspace: KS, journalFile: strictEmpty})).ok).toBe(true)
    expect((await verifyJournal({store, keyspace: KS, journalFile: strictEmpty, strict: true})).ok).toBe(false)
  })

  it('loses nothing across a simulated cutover (read-only source, rows copied, SrvKeyspace switched): zero errors', async () => {
    await clearTables()
    const {store} = await topo()
    await setServing(store, KS, {primary: ['0'], replica: ['0'], rdonly: ['0']})
    const file = join(c.dir, 'cutover.jsonl')
    const load = runLoad({store, keyspace: KS, rate: 300, durationMs: 4_000, concurrency: 4, journalFile: file})
    await sleep(1_000)
    // migrate_primary in miniature: freeze the source, copy its rows by keyspace id, switch the serving shards.
    await c.query('test-100', 'SET GLOBAL read_only = 1')
    const rows = await c.query<{page: string; time_created_ns: string; message: string}>(
      'test-100',
      'SELECT page, time_created_ns, message FROM messages',
    )
    for (const shard of ['-80', '80-']) {
      const mine = rows.filter((r) => shardOf(r.page) === shard)
      if (mine.length)
        await c.query(primaryOf(shard), 'INSERT INTO messages (page, time_created_ns, message) VALUES ?', [
          mine.map((r) => [r.page, r.time_created_ns, r.message]),
        ])
    }
    await sleep(500)
    await setServing(store, KS, {primary: ['-80', '80-'], replica: ['-80', '80-'], rdonly: ['-80', '80-']})
    const s = await load
    await c.query('test-100', 'SET GLOBAL read_only = 0')
    console.log(
      `load across a cutover: ${s.acknowledged} acknowledged, ${s.buffered.buffered} held (max ${s.buffered.maxBufferedMs} ms), ${s.errors} errors, p99 ${s.latencyMs.p99} ms`,
    )
    expect(s.firstErrors).toEqual([])
    expect(s.errors).toBe(0)
    expect(s.buffered.buffered).toBeGreaterThan(0)
    expect(s.buffered.bufferTimeouts).toBe(0)
    expect(rows.length).toBeGreaterThan(50)
    const r = await verifyJournal({store, keyspace: KS, journalFile: file})
    expect(r.differences).toEqual([])
    expect(r.ok).toBe(true)
    expect(r.counts.present).toBe(s.liveRows)
    expect(r.shards.map((x) => x.shard)).toEqual(['-80', '80-'])
  })

  it('accepts either outcome of a change journaled as uncertain, and only those', async () => {
    await clearTables()
    const {store} = await topo()
    const file = join(c.dir, 'uncertain.jsonl')
    const {messageHash} = await import('../../src/load/index.js')
    const [a, b, d] = [
      ['11', '1'],
      ['12', '1'],
      ['13', '1'],
    ] as const
    const lines = [
      {type: 'start', v: 1, keyspace: KS, table: 'messages', pid: 1, tag: 1, at: new Date().toISOString()},
      {op: 'insert', page: a[0], ts: a[1], h: messageHash('a1'), at: 1},
      {op: 'update', page: a[0], ts: a[1], h: messageHash('a2'), at: 2, uncertain: true, error: 'connection lost'},
      {op: 'insert', page: b[0], ts: b[1], h: messageHash('b1'), at: 3, uncertain: true, error: 'connection lost'},
      {op: 'insert', page: d[0], ts: d[1], h: messageHash('d1'), at: 4},
      {op: 'delete', page: d[0], ts: d[1], at: 5, uncertain: true, error: 'connection lost'},
      {op: 'insert', page: '14', ts: '1', h: messageHash('never'), at: 6, failed: true, error: 'buffer_timeout'},
    ]
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n'),
    )
    const put = (k: readonly [string, string], m: string) =>
      c.query(primaryOf(shardOf(k[0])), 'INSERT INTO messages VALUES (?, ?, ?)', [k[0], k[1], m])
    // a: the update may or may not have happened; b: the insert may be absent; d: the delete may not have happened.
    await put(a, 'a2')
    await put(d, 'd1')
    let r = await verifyJournal({store, keyspace: KS, journalFile: file})
    expect(r.differences).toEqual([])
    expect(r.counts).toMatchObject({uncertain: 3, expected: 0, present: 2, missing: 0})
    await clearTables()
    await put(a, 'a1')
    await put(b, 'b1')
    expect((await verifyJournal({store, keyspace: KS, journalFile: file})).ok).toBe(true)
    // …but not a third content, nor a lost row whose last change was certain.
    await clearTables()
    await put(a, 'something else')
    r = await verifyJournal({store, keyspace: KS, journalFile: file})
    expect(r.counts).toMatchObject({wrongContent: 1, missing: 0})
    await clearTables()
    r = await verifyJournal({store, keyspace: KS, journalFile: file})
    expect(r.counts.missing).toBe(1)
    expect(r.differences.map((x) => x.page)).toEqual([a[0]])
  })

  it('CLI: `shardform load` then `load verify` is clean (exit 0); a deleted row makes verify exit 1', async () => {
    await clearTables()
    const {url} = await topo()
    const env = {...process.env, ...c.env, SHARDFORM_TOPO: url, NO_COLOR: '1'}
    const file = join(c.dir, 'cli.jsonl')
    const bin = join(ROOT, 'bin/run.js')
    const loadOut = await run(
      'node',
      [bin, 'load', KS, '--rate', '200', '--duration', '2', '--journal', file, '--json'],
      {env, cwd: c.dir},
    )
    const summary = JSON.parse(loadOut.stdout)
    expect(summary.errors).toBe(0)
    expect(summary.acknowledged).toBeGreaterThan(200)
    const ok = await run('node', [bin, 'load', 'verify', '--journal', file, KS], {env, cwd: c.dir})
    expect(ok.stdout).toMatch(/missing 0, duplicated 0, misplaced 0, wrong content 0/)
    expect(ok.stdout).toMatch(/^OK:/m)
    const last = [...(await finalState(file)).entries()].find(([, l]) => l.op !== 'delete')!
    const [page, ts] = last[0].split(':')
    await c.query(primaryOf(shardOf(page!)), 'DELETE FROM messages WHERE page = ? AND time_created_ns = ?', [page, ts])
    const bad = await run('node', [bin, 'load', 'verify', '--journal', file, KS], {env, cwd: c.dir}).then(
      () => ({code: 0, stdout: ''}),
      (e: {code: number; stdout: string}) => e,
    )
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(/missing 1/)
    expect(bad.stdout).toContain(`missing       page=${page} time_created_ns=${ts}`)
  })
})
