// settings.deferSecondaryKeys in a merge -80, 80- → 0: both sources copy into the same destination table, so its
// deferred keys may go on only after both clones are done. They are added once, after both, and the destination ends
// with the sources' SHOW CREATE TABLE and every row.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import type {RunnerEvent} from '../../src/engine/runner.js'
import {dataPlaneRuntime} from '../../src/phases/index.js'
import {Router} from '../../src/routing/router.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import {KS, withApprovals} from '../helpers/fault-cluster.js'

const ROWS = 600
const KEYS = 'ALTER TABLE messages ADD UNIQUE KEY u_time (time_created_ns, page), ADD KEY k_message (message(20))'
let c: TestCluster

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 1, schema: true})
  for (const a of ['test-200', 'test-300']) await c.query(a, KEYS, [], 'admin')
  const router = await Router.open({store: c.store, keyspace: KS, role: 'admin'})
  try {
    for (let page = 1; page <= ROWS; page++)
      await router.execute('messages', page, 'INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)', [
        page,
        page,
        `row ${page}`,
      ])
  } finally {
    await router.close()
  }
  await c.waitReplication()
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

async function showCreate(alias: string): Promise<string> {
  const [r] = await c.query<{'Create Table': string}>(alias, 'SHOW CREATE TABLE messages')
  return r!['Create Table']
}

it('adds the deferred keys once, after both clones into the merged destination', async () => {
  // The 1-shard layout with the sharded vschema of the 2-shard one: a merge keeping the hash vindex.
  const sharded = readFileSync(c.layoutFiles[1], 'utf8').match(/^vschema:.*\n((?: {2}.*\n)*)/m)![0]
  const text = readFileSync(c.layoutFiles[0], 'utf8').replace(/^vschema:\n( {2}.*\n)+/m, sharded)
  const file = join(c.dir, '1-shard-deferred.yaml')
  writeFileSync(file, withApprovals(text, 'default: none', 'deferSecondaryKeys: true\n'))
  const source = await showCreate('test-200')
  expect(source).toMatch(/UNIQUE KEY `u_time`[\s\S]*KEY `k_message`/)

  const lines: string[] = []
  const emit = (ev: RunnerEvent) => {
    if (ev.kind === 'event') lines.push(`${ev.event.task ?? ''}: ${ev.event.message}`)
  }
  const r = await apply({
    store: c.store,
    runtime: dataPlaneRuntime(),
    target: file,
    autoApprove: true,
    ui: {confirm: async () => true, emit},
  })
  expect(r.state === 'failed' ? r.failed.map((t) => t.error) : r.state).toBe('done')

  const added = lines.flatMap((l, i) => (/deferred secondary key\(s\) to messages on test-100/.test(l) ? [i] : []))
  expect(added).toHaveLength(1)
  expect(lines[added[0]!]).toMatch(/added 2 deferred secondary key\(s\)/)
  for (const src of ['-80', '80-']) {
    const copied = lines.findIndex((l) => l.startsWith(`clone/${src}: copied`))
    expect(copied).toBeGreaterThanOrEqual(0)
    expect(copied).toBeLessThan(added[0]!)
  }
  expect(await showCreate('test-100')).toBe(source)
  const [n] = await c.query<{n: number | string}>('test-100', 'SELECT COUNT(*) AS n FROM messages')
  expect(Number(n!.n)).toBe(ROWS)
}, 240_000)
