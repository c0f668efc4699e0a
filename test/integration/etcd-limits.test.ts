// What a real etcd with its default limits (--max-request-bytes 1.5 MiB, --max-txn-ops 128) takes from the topology:
// a large keyspace's bootstrap, a large split's workflow record, and a clear refusal when a write is still too large.
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {generateShards} from '../../src/keyspace/keyrange.js'
import {initKeyspace, INIT_BATCH, bootstrapRecords} from '../../src/layout/init.js'
import {parseLayout} from '../../src/layout/load.js'
import {openTopo} from '../../src/topo/open.js'
import {keyspacePath, shardPath, shardsPrefix, tabletsPrefix} from '../../src/topo/paths.js'
import {TopoError, type TopoStore, type WatchEvent} from '../../src/topo/store.js'
import {startEtcd, type TestEtcd} from '../helpers/etcd.js'

let etcd: TestEtcd
beforeAll(async () => {
  etcd = await startEtcd()
})
afterAll(async () => {
  await etcd?.stop()
})

async function withStore(fn: (s: TopoStore, raw: (path: string) => Buffer) => Promise<void>): Promise<void> {
  const url = etcd.newUrl()
  const s = await openTopo(url)
  // The bytes etcd holds, as etcdctl shows them.
  const raw = (path: string) =>
    execFileSync(
      'etcdctl',
      ['--endpoints', etcd.clientUrl, 'get', '--print-value-only', `/${url.split('/').pop()}/${path}`],
      {
        env: {...process.env, ETCDCTL_API: '3'},
      },
    )
  try {
    await fn(s, raw)
  } finally {
    await s.close()
  }
}

async function rejection(p: Promise<unknown>): Promise<TopoError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  )
  expect(e).toBeInstanceOf(TopoError)
  return e as TopoError
}

/** A layout of `n` shards, three tablets each (3n + n + 2 records: far over 128 operations). */
function layoutOf(n: number, aliasBase = 0) {
  const lines = ['keyspace: big', 'vschema: {sharded: true, vindexes: {h: {type: hash}}, tables: {}}', 'shards:']
  generateShards(n).forEach((name, i) => {
    lines.push(`  '${name}':`, '    tablets:')
    ;['primary', 'replica', 'rdonly'].forEach((type, k) => {
      const uid = aliasBase + i * 3 + k
      lines.push(`      - {alias: t-${uid}, type: ${type}, host: 10.0.${uid >> 8}.${uid & 255}, port: 3306}`)
    })
  })
  return parseLayout('big.yaml', lines.join('\n') + '\n')
}

/** A workflow-like record of ~3 MB as JSON: the same structure repeated, as a plan's phases and tasks are. */
function bigRecord() {
  const tasks: Record<string, unknown> = {}
  for (let i = 0; i < 30_000; i++) {
    const id = `clone/${i}`
    tasks[id] = {id, phase: 'clone', shard: `s${i}`, state: 'done', attempts: 1, output: {rows: i * 7}}
  }
  return {tasks}
}

describe('etcd with its default limits', () => {
  it('bootstraps a keyspace of 64 shards and 192 tablets (far over 128 operations per transaction)', async () => {
    await withStore(async (s) => {
      const layout = layoutOf(64)
      await initKeyspace(s, layout)
      expect((await s.list(shardsPrefix('big'))).length).toBe(64)
      expect((await s.list(tabletsPrefix())).length).toBe(192)
      expect((await s.get(keyspacePath('big')))?.value).toEqual(bootstrapRecords(layout).keyspace)
    })
  })

  it('an interrupted bootstrap runs again with the same layout, and refuses leftovers of another one', async () => {
    await withStore(async (s) => {
      const layout = layoutOf(64)
      const recs = bootstrapRecords(layout)
      // What the first batch of an init killed before its last commit left: shards, no keyspace record.
      const written = recs.shards.slice(0, INIT_BATCH / 2)
      await s.commit(written.map((sh) => ({op: 'put', path: shardPath('big', sh.name), value: sh, version: null})))
      await initKeyspace(s, layout)
      expect((await s.list(shardsPrefix('big'))).length).toBe(64)

      const other = await openTopo(etcd.newUrl())
      try {
        const sh = recs.shards[0]!
        await other.commit([
          {op: 'put', path: shardPath('big', sh.name), value: {...sh, servedTypes: []}, version: null},
        ])
        const err = await initKeyspace(other, layout).then(
          () => undefined,
          (e: unknown) => e as Error,
        )
        expect(err?.message).toContain(`${shardPath('big', sh.name)} exists although keyspace "big" does not`)
        expect(await other.get(keyspacePath('big'))).toBeUndefined()
      } finally {
        await other.close()
      }
    })
  })

  it('stores a record larger than one etcd request compressed, and reads it back through get, list and watch', async () => {
    await withStore(async (s, raw) => {
      const value = bigRecord()
      expect(JSON.stringify(value).length).toBeGreaterThan(2 * 1024 * 1024)
      const events: WatchEvent[] = []
      await s.watch('workflows/', (ev) => events.push(ev))
      await s.create('workflows/w1/Workflow', value)
      expect((await s.get('workflows/w1/Workflow'))?.value).toEqual(value)
      expect((await s.list('workflows/')).map((e) => e.value)).toEqual([value])
      const deadline = Date.now() + 5_000
      while (!events.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(events[0]).toMatchObject({type: 'put', entry: {path: 'workflows/w1/Workflow', value}})
      expect(raw('workflows/w1/Workflow').subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]))
      // A small record stays pretty JSON for etcdctl.
      await s.create('keyspaces/k/Keyspace', {name: 'k'})
      expect(raw('keyspaces/k/Keyspace').toString()).toBe('{\n  "name": "k"\n}\n\n')
    })
  })

  it('refuses a write etcd cannot take at once, naming the limit, instead of calling it an outage', async () => {
    await withStore(async (s) => {
      // Random text does not compress: ~2 MB stored whichever way.
      const big = await rejection(s.create('x/Big', {blob: randomBytes(2 * 1024 * 1024).toString('base64')}))
      expect(big.code).toBe('too_large')
      expect(big.message).toContain('--max-request-bytes')
      expect(big.message).not.toContain('Is etcd running')
      const ops = await rejection(
        s.commit(Array.from({length: 200}, (_, i) => ({op: 'put' as const, path: `x/K${i}`, value: {i}}))),
      )
      expect(ops.code).toBe('too_large')
      expect(ops.message).toContain('--max-txn-ops')
      expect(await s.get('x/K0')).toBeUndefined()
    })
  })
})
