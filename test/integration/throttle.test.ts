// Issue 15 (5): clone and diff pause while a replica of the source shard lags more than
// settings.throttleReplicaLagSeconds (the rdonly they read is paused on purpose and does not count), say so in the log
// and in their progress (what `status` shows), and go on once the replica has caught up; nothing is lost meanwhile.
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import type {RunnerEvent} from '../../src/engine/runner.js'
import {dataPlaneRuntime} from '../../src/phases/index.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import {bulkLoad, delayReplica, gatedLayout} from '../helpers/fault-cluster.js'

const ROWS = 3000
let c: TestCluster

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await bulkLoad(c, ROWS)
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

async function replicaLag(): Promise<number> {
  const [st] = await c.query<{Seconds_Behind_Master: number | null}>('test-101', 'SHOW SLAVE STATUS', [], 'admin')
  return Number(st?.Seconds_Behind_Master ?? 0)
}

async function until(ok: () => Promise<boolean>): Promise<void> {
  while (!(await ok())) await sleep(200)
}

async function count(alias: string): Promise<number> {
  const [r] = await c.query<{n: number | string}>(alias, 'SELECT COUNT(*) AS n FROM messages')
  return Number(r!.n)
}

it('clone waits while the source replica lags, shows why, and copies everything once it has caught up', async () => {
  const layout = gatedLayout(c, 1, 'split-throttled.yaml', 'default: none\n', 'throttleReplicaLagSeconds: 1\n')
  // A write the delayed replica holds back: its lag grows by a second every second.
  await delayReplica(c, 'test-101', 3600)
  await c.query('test-100', 'INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)', [
    9_000_001,
    1,
    'held back',
  ])
  await until(async () => (await replicaLag()) >= 2)

  const lines: string[] = []
  const messages: string[] = []
  let throttled!: () => void
  const sawThrottle = new Promise<void>((r) => (throttled = r))
  const emit = (ev: RunnerEvent) => {
    if (ev.kind === 'event') lines.push(ev.event.message)
    if (ev.kind === 'progress' && ev.progress.message) messages.push(`${ev.task}: ${ev.progress.message}`)
    if (messages.some((m) => m.startsWith('clone/0: throttled: replica test-101 lags'))) throttled()
  }
  const run = apply({
    store: c.store,
    runtime: dataPlaneRuntime(),
    target: layout,
    autoApprove: true,
    ui: {confirm: async () => true, emit},
  })
  await Promise.race([sawThrottle, run.then(() => undefined)])
  expect(lines.some((l) => /throttled: replica test-101 lags \d+ s \(limit 1 s\); clone\/0 waits/.test(l))).toBe(true)
  // Paused before the first chunk: nothing has reached the destinations.
  expect((await count('test-200')) + (await count('test-300'))).toBe(0)

  await delayReplica(c, 'test-101', 0)
  const r = await run
  expect(r.state === 'failed' ? r.failed.map((t) => t.error) : r.state).toBe('done')
  expect(lines.some((l) => /throttle released: the replicas of 0 are within 1 s again/.test(l))).toBe(true)
  expect(lines.some((l) => /copied \d+ row\(s\) of 1 table\(s\) from 0 in .*; throttled \d+\.\ds/.test(l))).toBe(true)
  expect((await count('test-200')) + (await count('test-300'))).toBe(ROWS + 1)
}, 180_000)
