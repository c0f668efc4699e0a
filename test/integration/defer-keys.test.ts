// Issue 15 (4): settings.deferSecondaryKeys. The guestbook table with two secondary keys (one unique) is split 1 → 2: the plan says
// the keys are deferred; after the clone (stopped at the wait_for_filtered_replication gate) the destinations hold the
// rows without those keys; then the keys are added before the catch-up, SHOW CREATE TABLE matches the source exactly,
// and the diff passes.
import {afterAll, beforeAll, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import type {RunnerEvent} from '../../src/engine/runner.js'
import {dataPlaneRuntime} from '../../src/phases/index.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import {bulkLoad, gatedLayout} from '../helpers/fault-cluster.js'

let c: TestCluster

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await bulkLoad(c, 3000)
  await c.query(
    'test-100',
    'ALTER TABLE messages ADD UNIQUE KEY uk_time (time_created_ns, page), ADD KEY k_message (message(20))',
  )
  await c.waitReplication()
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

async function createOf(alias: string): Promise<string> {
  const [r] = await c.query<Record<string, unknown>>(alias, 'SHOW CREATE TABLE messages')
  return String(r!['Create Table'])
}

it('creates destination tables without their secondary keys, adds them after the copy, and the diff passes', async () => {
  const layout = gatedLayout(
    c,
    1,
    'split-deferred.yaml',
    'default: none\nphases:\n  wait_for_filtered_replication: phase\n',
    'deferSecondaryKeys: true\n',
  )
  const lines: string[] = []
  const emit = (ev: RunnerEvent) => ev.kind === 'event' && lines.push(ev.event.message)
  const first = await apply({
    store: c.store,
    runtime: dataPlaneRuntime(),
    target: layout,
    noWait: true,
    ui: {confirm: async () => true, emit},
  })
  expect(first.state === 'failed' ? first.failed.map((t) => t.error) : first.state).toBe('waiting')
  const wf = first.state === 'waiting' ? first.wf : undefined
  const task = (id: string) => wf!.plan.phases.flatMap((p) => p.tasks).find((t) => t.id === id)!
  expect(task('copy_schema/-80').detail).toMatch(/secondary keys deferred/)
  expect(task('wait_for_filtered_replication/-80').detail).toMatch(/^add the deferred secondary keys/)
  expect(lines.some((l) => /2 secondary key\(s\) deferred until after the copy/.test(l))).toBe(true)

  // Copied, keys still missing on the destinations.
  const source = await createOf('test-100')
  expect(source).toMatch(/UNIQUE KEY `uk_time`/)
  for (const alias of ['test-200', 'test-300']) {
    const d = await createOf(alias)
    expect(d).not.toMatch(/KEY `uk_time`|KEY `k_message`/)
    expect(d).toMatch(/PRIMARY KEY/)
  }
  const rows = async (alias: string) =>
    Number((await c.query<{n: number}>(alias, 'SELECT COUNT(*) AS n FROM messages'))[0]!.n)
  expect((await rows('test-200')) + (await rows('test-300'))).toBe(3000)

  const r = await apply({
    store: c.store,
    runtime: dataPlaneRuntime(),
    autoApprove: true,
    ui: {confirm: async () => true, emit},
  })
  expect(r.state === 'failed' ? r.failed.map((t) => t.error) : r.state).toBe('done')
  expect(lines.filter((l) => /added 2 deferred secondary key\(s\) to messages/.test(l))).toHaveLength(2)
  for (const alias of ['test-200', 'test-300']) expect(await createOf(alias)).toBe(source)
}, 240_000)
