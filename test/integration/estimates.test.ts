// Estimates against a real cluster: a deliberately skewed guestbook (3/4 of the keyspace ids in -80) planned 1 → 2,
// then applied; the rows predicted per destination are within 10% of the rows the clone put there.
import {afterAll, beforeAll, expect, it} from 'vitest'
import {keyspaceId} from '../../src/keyspace/vindexes/index.js'
import {cli} from '../helpers/cli.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import {expectPlanSchema} from '../helpers/plan-schema.js'

let c: TestCluster
const LOW = 3000 // rows whose page hashes into -80
const HIGH = 1000 // rows in 80-

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {
    init: 0,
    schema: true,
    topo: 'file',
  })
  const rows: Array<[number, number, string]> = []
  let low = 0
  let high = 0
  for (let page = 1; low < LOW || high < HIGH; page++) {
    const inLow = keyspaceId('hash', page)[0] < 0x80
    if (inLow ? low++ >= LOW : high++ >= HIGH) continue
    rows.push([page, page * 1000, `message ${page}`])
  }
  for (let i = 0; i < rows.length; i += 500)
    await c.query('test-100', 'INSERT INTO vt_test_keyspace.messages VALUES ?', [rows.slice(i, i + 500)])
  await c.waitReplication()
}, 240_000)

afterAll(async () => {
  await c?.stop()
})

const run = (args: string[]) => cli(args, {env: c.env, timeoutMs: 300_000})

it('predicts rows per destination within 10% of what the clone copies, and the skew', async () => {
  const exact = await run(['plan', c.layoutFiles[1], '--json', '--exact'])
  expect(exact.code, exact.stderr).toBe(0)
  const e = expectPlanSchema(JSON.parse(exact.stdout)).estimates
  expect(e).toMatchObject({ran: true, method: 'exact', sources: [{shard: '0', rows: LOW + HIGH}]})
  expect(e.sample.rows).toBeGreaterThan(1000)
  expect(e.skew).toBeGreaterThan(1.35)
  expect(e.skew).toBeLessThan(1.65)
  expect(e.durations.copy_seconds).toBeCloseTo((LOW + HIGH) / e.rates.copy_rows_per_second, 6)

  // Without --exact: information_schema's sizes, still a reshard's estimate, shown in the text plan.
  const text = await run(['plan', c.layoutFiles[1]])
  expect(text.stdout).toMatch(/^Estimates \(information_schema, approximate; \d+ keyspace ids sampled\):$/m)
  expect(text.stdout).toMatch(/^\s+-80\s+destination\s+[\d,]+\s+\S+ \S+\s+\d+\.\d%$/m)
  expect(text.stdout).toMatch(/^\s+skew 1\.\d\d \(largest destination \/ mean\)$/m)

  const applied = await run(['apply', c.layoutFiles[1], '--auto-approve'])
  expect(applied.code, applied.stdout + applied.stderr).toBe(0)
  for (const [shard, alias] of [
    ['-80', 'test-200'],
    ['80-', 'test-300'],
  ]) {
    const [r] = await c.query<{n: number}>(alias, 'SELECT COUNT(*) AS n FROM vt_test_keyspace.messages')
    const copied = Number(r.n)
    expect(copied).toBe(shard === '-80' ? LOW : HIGH)
    const predicted = e.destinations.find((d: {shard: string}) => d.shard === shard).rows
    expect(
      Math.abs(predicted - copied) / copied,
      `${shard}: predicted ${predicted}, copied ${copied}`,
    ).toBeLessThanOrEqual(0.1)
  }
}, 600_000)
