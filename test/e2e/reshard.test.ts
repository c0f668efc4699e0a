// The seed story end to end with the CLI as a user runs it: 1 → 2 → 4 → 2 shards of the guestbook while
// `shardform load` inserts, updates and deletes through the router the whole time. After each apply: nothing
// lost, duplicated or misplaced, every diff passed, the old shards take no writes, the client saw no errors.
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {cli, startLoad} from '../helpers/cli.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'

let c: TestCluster
const journals: string[] = []

beforeAll(async () => {
  c = await startTestCluster(
    [guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml'), guestbookFile('4-shards.yaml')],
    {init: 0, schema: true},
  )
}, 240_000)

afterAll(async () => {
  await c?.stop()
})

const run = (args: string[], timeoutMs = 300_000) => cli(args, {env: c.env, timeoutMs})

async function gtid(alias: string): Promise<string> {
  const [r] = await c.query<{p: string}>(alias, 'SELECT @@global.gtid_binlog_pos AS p')
  return String(r.p)
}

async function reshard(layoutIndex: number, oldPrimaries: string[]) {
  const journal = join(c.dir, `load-${journals.length}.journal`)
  journals.push(journal)
  const load = startLoad('test_keyspace', ['--rate', '120', '--concurrency', '4', '--journal', journal], c.env)
  await sleep(2500)
  const applied = await run(['apply', c.layoutFiles[layoutIndex], '--auto-approve'])
  expect(applied.code, applied.stdout + applied.stderr).toBe(0)
  expect(applied.stdout).toContain('Apply complete!')
  // Right after the cutover the old primaries are frozen: note where their binlogs stand.
  const frozen = await Promise.all(oldPrimaries.map(gtid))
  await sleep(2000)
  const {summary, code, stderr} = await load.stop()
  expect(code, stderr).toBe(0)
  expect(summary.errors, JSON.stringify(summary)).toBe(0)
  expect(Number(summary.acknowledged ?? summary.ops ?? 0)).toBeGreaterThan(100)
  // The old shards took no transaction after the cutover while the load went on.
  expect(await Promise.all(oldPrimaries.map(gtid))).toEqual(frozen)
  for (const alias of oldPrimaries) {
    const [ro] = await c.query<{ro: number | string}>(alias, 'SELECT @@global.read_only AS ro')
    expect(Number(ro.ro), `${alias} read_only`).toBe(1)
  }
  // Every journal so far: rows of earlier runs must have moved correctly too.
  for (const j of journals) {
    const v = await run(['load', 'verify', '--journal', j, 'test_keyspace'])
    expect(v.code, `${j}\n${v.stdout}${v.stderr}`).toBe(0)
  }
  const st = await run(['status', 'test_keyspace', '--json'])
  expect(st.code, st.stderr).toBe(0)
  return {applied, status: JSON.parse(st.stdout), summary}
}

function diffTasks(status: {
  workflows?: Array<{state: string; phases: Array<{name: string; tasks: Array<{id: string; state: string}>}>}>
}) {
  const wf = status.workflows?.[0]
  return wf?.phases.find((p) => p.name === 'diff')?.tasks ?? []
}

// One test, not three: each reshard starts from the layout the previous one left, so they are steps of one sequence.
describe('guestbook 1 → 2 → 4 → 2 under load', () => {
  it('splits shard 0 in two, splits each half again, then merges back into two shards on the servers it retired', async () => {
    // 1 → 2
    const split = await reshard(1, ['test-100'])
    expect(diffTasks(split.status).map((t) => `${t.id} ${t.state}`)).toEqual(['diff/-80 done', 'diff/80- done'])
    const shown = await run(['topo', 'show', 'test_keyspace', '--json'])
    const ks = JSON.parse(shown.stdout).keyspaces[0]
    expect(ks.shards.map((s: {name: string; serving: string[]}) => `${s.name}:${s.serving.join(',')}`)).toEqual([
      '-80:primary,replica,rdonly',
      '80-:primary,replica,rdonly',
    ])

    // 2 → 4
    const again = await reshard(2, ['test-200', 'test-300'])
    expect(diffTasks(again.status).map((t) => t.state)).toEqual(['done', 'done', 'done', 'done'])

    // 4 → 2, onto the servers retired by the first step (their stale rows are emptied first)
    const merged = await reshard(1, ['test-400', 'test-500', 'test-600', 'test-700'])
    expect(diffTasks(merged.status).map((t) => t.state)).toEqual(['done', 'done'])
    expect(merged.applied.stdout).toMatch(/emptied \d+ stale row\(s\) left by a retired shard/)
    const final = await run(['topo', 'show', 'test_keyspace', '--json'])
    expect(JSON.parse(final.stdout).keyspaces[0].shards.map((s: {name: string}) => s.name)).toEqual(['-80', '80-'])
  }, 1_800_000)
})
