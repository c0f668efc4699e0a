// Issue 13's API against a real cluster (etcd + MariaDB): `shardform server --listen --token-file` runs a 1 → 2 split
// recorded with apply --detach. Shown through HTTP only: the keyspaces and the serving map (no secret in them); the
// workflow's event stream; approvals and a retry with a token (recorded as the token's name), refused without a token
// (401) or from another Origin (403) with nothing recorded; /metrics at the clone gate and after it (rows copied, each
// stream's lag, row changes applied moving as rows are written); the serving-map stream when rdonly traffic moves.
// Every wait is for an event of the workflow's stream or the serving stream, never for a time.
import {chmodSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {setTimeout as sleep} from 'node:timers/promises'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {readItems} from '../../src/engine/work-items.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {assertBuilt, type Cli} from '../helpers/engine-cli.js'
import {cliProc, injected, KS, startFaultCluster, gatedLayout, workflowById} from '../helpers/fault-cluster.js'
import {Api, type EventReader, type Sample, type Sse} from '../helpers/http.js'

const ROWS = 3000
const TOKEN = 'alice-token-0123456789abcdef'
const EVIL = 'http://evil.example'
let c: TestCluster
let server: Cli
let api: Api
let wfId: string
let wfEvents: EventReader
const procs: Cli[] = []

function run(args: string[]): Cli {
  const p = cliProc(c, args)
  procs.push(p)
  return p
}

beforeAll(async () => {
  assertBuilt()
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await c.query(
    'test-100',
    `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, CONCAT('bulk ', seq) FROM seq_1_to_${ROWS}`,
  )
  await c.waitReplication()
  const tokens = join(c.dir, 'tokens')
  writeFileSync(tokens, `# who may call the API\nalice: ${TOKEN}\nbob: bob-token-0123456789abcdef\n`)
  chmodSync(tokens, 0o600)
  server = run(['server', '--id', 'web1', '--lock-ttl', '5', '--listen', '127.0.0.1:0', '--token-file', tokens])
  await server.waitFor(/on http:\/\/127\.0\.0\.1:\d+\//, 30_000)
  api = new Api(/on (http:\/\/127\.0\.0\.1:\d+)\//.exec(server.stdout)![1]!, TOKEN)
}, 180_000)

afterAll(async () => {
  wfEvents?.close()
  for (const p of procs) if (!p.done) p.proc.kill('SIGTERM')
  await Promise.allSettled(procs.map((p) => p.exited))
  await c?.stop()
})

const status = (e: Sse) =>
  e.data as {state: string; waiting: {phase: string; stage: string} | null; lock: unknown; phases: any[]; streams?: any}
const task = (e: Sse, id: string) =>
  status(e)
    .phases.flatMap((p) => p.tasks)
    .find((t: {id: string}) => t.id === id)
const waitingAt = (phase: string) => (e: Sse) => status(e).state === 'waiting' && status(e).waiting?.phase === phase
const pick = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))

async function record(): Promise<WorkflowRecord> {
  return workflowById(c, wfId)
}

describe('keyspaces and the serving map', () => {
  it('lists keyspaces with shards, ranges, serving types and tablet endpoints; no secret; 404 and 401', async () => {
    const r = await api.get('/api/v1/keyspaces')
    expect(r.status).toBe(200)
    const ks = r.json.keyspaces.find((k: {keyspace: string}) => k.keyspace === KS)
    expect(ks.shards).toEqual([
      {
        name: '0',
        start: '',
        end: '',
        serving: ['primary', 'replica', 'rdonly'],
        primary: 'test-100',
        frozen: false,
        source_shards: [],
        tablets: ['test-100', 'test-101', 'test-102'].map((alias, i) => ({
          alias,
          type: ['primary', 'replica', 'rdonly'][i],
          host: '127.0.0.1',
          port: c.tablet(alias).port,
        })),
      },
    ])
    for (const secret of Object.values(c.env).filter((v) => v.length >= 8 && !v.includes('/')))
      expect(r.text).not.toContain(secret)
    expect(r.text).not.toMatch(/password/i)

    const s = await api.get(`/api/v1/keyspaces/${KS}/serving`)
    expect(s.status).toBe(200)
    expect(s.json.serving).toEqual({
      primary: [{shard: '0', start: '', end: ''}],
      replica: [{shard: '0', start: '', end: ''}],
      rdonly: [{shard: '0', start: '', end: ''}],
    })
    const missing = await api.get('/api/v1/keyspaces/nope/serving')
    expect(missing.status).toBe(404)
    expect(missing.json.error.code).toBe('unknown_keyspace')
    expect((await api.get('/api/v1/keyspaces', {token: null})).status).toBe(401)
    expect((await api.get('/api/v1/keyspaces', {token: 'not-a-token-of-this-server'})).status).toBe(401)
    expect((await api.get('/metrics', {token: null})).status).toBe(401)
  })
})

describe('a workflow run by a server, driven through the API', () => {
  it(
    'approve with a token; 401 and 403 record nothing; /metrics at the clone gate and after',
    {timeout: 180_000},
    async () => {
      const layout = gatedLayout(
        c,
        1,
        'split.yaml',
        'default: none\nphases:\n  clone: canary\n  diff: phase\n  migrate_rdonly: phase\n  migrate_replica: phase',
      )
      const planFile = join(c.dir, 'split.plan')
      const p = await run(['plan', layout, '--out', planFile]).exited
      expect(p.code, p.stderr).toBe(0)
      const a = await run(['apply', planFile, '--detach']).exited
      expect(a.code, a.stderr).toBe(0)
      const list = await api.get('/api/v1/workflows')
      expect(list.json.workflows).toHaveLength(1)
      wfId = list.json.workflows[0].id

      wfEvents = await api.events(`/api/v1/workflows/${wfId}/events`)
      const atClone = await wfEvents.next(waitingAt('clone'), 0, 'the clone gate')
      expect(status(atClone.e).lock).toMatchObject({server: 'web1'})

      const plan = await api.get(`/api/v1/workflows/${wfId}/plan`)
      expect(plan.json.plan.phases.map((ph: {name: string}) => ph.name)).toContain('clone')
      expect(plan.json.text).toMatch(/-80/)

      // At the gate: the task waits, the gate's waiting time is there, nothing is copied yet.
      const m0 = await api.metrics()
      expect(pick(m0, 'shardform_task_state', {task: 'clone/0', state: 'waiting_approval'})[0]?.value).toBe(1)
      expect(pick(m0, 'shardform_gate_waiting_seconds', {workflow: wfId, phase: 'clone'})).toHaveLength(1)
      expect(pick(m0, 'shardform_task_rows_copied', {task: 'clone/0'})).toEqual([])
      expect(pick(m0, 'shardform_server_claims', {server: 'web1'})[0]?.value).toBe(1)

      // Refused: no token, a token of no one, another site's Origin; nothing is recorded.
      const before = await record()
      expect((await api.post(`/api/v1/workflows/${wfId}/approve`, {stage: 'first'}, {token: null})).status).toBe(401)
      expect(
        (await api.post(`/api/v1/workflows/${wfId}/approve`, {stage: 'first'}, {token: 'bad-token-0123456789abcdef'}))
          .status,
      ).toBe(401)
      const cross = await api.post(`/api/v1/workflows/${wfId}/approve`, {stage: 'first'}, {origin: EVIL})
      expect(cross.status).toBe(403)
      expect(cross.json.error.code).toBe('forbidden_origin')
      expect((await api.post(`/api/v1/workflows/${wfId}/approve`, {stage: 'sideways'})).status).toBe(400)
      // Clone has one task: there is no "rest" to approve (the engine's refusal, as a conflict).
      const rest = await api.post(`/api/v1/workflows/${wfId}/approve`, {stage: 'rest'})
      expect(rest.status).toBe(409)
      expect(rest.json.error.message).toMatch(/single task/)
      const after = await record()
      expect(after.approvals).toEqual(before.approvals)
      expect(after.events.length).toBe(before.events.length)

      const ok = await api.post(`/api/v1/workflows/${wfId}/approve`, {stage: 'first'}, {origin: api.base})
      expect(ok.status, ok.text).toBe(200)
      expect(ok.json.approval).toMatchObject({gate: 'clone:first', by: 'alice', via: 'api'})
      expect((await record()).events.at(-1)).toMatchObject({type: 'approved', who: 'alice'})

      // Past the clone: at the diff gate every row is copied and both streams report their lag. The driver hands the
      // streams out as work items while it waits (their counters start again there): read once the server runs both.
      const atDiff = await wfEvents.next(waitingAt('diff'), atClone.index, 'the diff gate')
      for (;;) {
        const {claims, statuses} = await readItems(c.store, wfId)
        const published = [...claims].filter(([k, cl]) => statuses.get(k)?.server === cl.server)
        if (published.length === 2) break
        await sleep(100)
      }
      const streams = () =>
        wfEvents.next((e) => (status(e).streams?.streams.length ?? 0) === 2, atDiff.index, 'two streams published')
      const s0 = status((await streams()).e).streams.streams
      const m1 = await api.metrics()
      expect(pick(m1, 'shardform_task_rows_copied', {workflow: wfId, task: 'clone/0'})[0]?.value).toBe(ROWS)
      for (const s of s0) {
        const l = {workflow: wfId, source: s.source, destination: s.destination}
        const lag = pick(m1, 'shardform_stream_lag_seconds', l)
        expect(lag, `lag of ${s.source} → ${s.destination}`).toHaveLength(1)
        expect(lag[0]!.value).toBeGreaterThanOrEqual(0)
      }
      const applied = (m: Sample[]) =>
        pick(m, 'shardform_stream_row_changes_applied', {workflow: wfId}).reduce((n, s) => n + s.value, 0)
      const applied1 = applied(m1)

      // Rows written to the source now reach the destinations by filtered replication: the metric moves.
      const extra = 40
      await c.query(
        'test-100',
        `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, 'late' FROM seq_${ROWS + 1}_to_${ROWS + extra}`,
      )
      const moved = await wfEvents.next(
        (e) =>
          (status(e).streams?.streams ?? []).reduce((n: number, s: {rowChanges: number}) => n + s.rowChanges, 0) >=
          applied1 + extra,
        atDiff.index,
        'the streams to apply the new rows',
      )
      expect(moved.index).toBeGreaterThan(atDiff.index)
      const m2 = await api.metrics()
      expect(applied(m2)).toBeGreaterThanOrEqual(applied1 + extra)
      expect(pick(m2, 'shardform_stream_lag_seconds', {workflow: wfId})).toHaveLength(2)
    },
  )

  it(
    'a failed diff is retried through the API with a token; 401 and 403 record nothing',
    {timeout: 180_000},
    async () => {
      // A row on -80 that is nowhere on the source, written outside the binlog: the diff of -80 must fail.
      const conn = await c.connect('test-200', 'admin')
      await conn.query('SET SESSION sql_log_bin = 0')
      await conn.query("INSERT INTO messages (page, time_created_ns, message) VALUES (900001, 900001, 'extra')")
      injected('an extra row on test-200 (sql_log_bin=0)')
      const from = wfEvents.seen.length
      const ok = await api.post(`/api/v1/workflows/${wfId}/approve`)
      expect(ok.status, ok.text).toBe(200)
      expect(ok.json.approval).toMatchObject({gate: 'diff:all', by: 'alice'})
      // The server ran the diff, it failed, and the server let the workflow go (it waits for a retry).
      const failed = await wfEvents.next(
        (e) => status(e).state === 'failed' && status(e).lock === null,
        from,
        'the diff to fail and the server to let go',
      )
      expect(task(failed.e, 'diff/-80').state).toBe('failed')
      expect(task(failed.e, 'diff/-80').error).toMatch(/1 extra/)

      const before = await record()
      const path = `/api/v1/workflows/${wfId}/retry`
      expect((await api.post(path, {task: 'diff/-80'}, {token: null})).status).toBe(401)
      expect((await api.post(path, {task: 'diff/-80'}, {origin: EVIL})).status).toBe(403)
      expect((await api.post(path, {task: 'diff/nope'})).status).toBe(404)
      const notFailed = await api.post(path, {task: 'clone/0'})
      expect(notFailed.status).toBe(409)
      expect(notFailed.json.error.message).toMatch(/not failed/)
      const same = await record()
      expect(same.state).toBe('failed')
      expect(same.tasks['diff/-80']).toEqual(before.tasks['diff/-80'])
      expect(same.events.length).toBe(before.events.length)

      await conn.query('DELETE FROM messages WHERE page = 900001')
      await conn.end()
      injected('the extra row removed')
      const r = await api.post(path, {task: 'diff/-80'})
      expect(r.status, r.text).toBe(200)
      expect(r.json.retried).toEqual(['diff/-80'])
      expect((await record()).events.find((e) => e.type === 'retry')).toMatchObject({who: 'alice', task: 'diff/-80'})
      // The server runs the workflow again from the retried task.
      const next = await wfEvents.next(waitingAt('migrate_rdonly'), failed.index, 'the migrate_rdonly gate')
      expect(task(next.e, 'diff/-80')).toMatchObject({state: 'done', attempts: 2})
      const history = await api.get(`/api/v1/workflows/${wfId}/history`)
      expect(history.json.events.map((e: {type: string}) => e.type)).toEqual(
        expect.arrayContaining(['approved', 'task_failed', 'retry']),
      )
    },
  )

  it('the serving-map stream has an event when rdonly traffic moves', {timeout: 120_000}, async () => {
    const serving = await api.events(`/api/v1/keyspaces/${KS}/serving/events`)
    try {
      const first = await serving.next((e) => e.event === 'serving', 0, 'the first serving map')
      expect(first.e.data.serving.rdonly.map((s: {shard: string}) => s.shard)).toEqual(['0'])
      expect((await api.post(`/api/v1/workflows/${wfId}/approve`)).status).toBe(200)
      const moved = await serving.next(
        (e) => e.event === 'serving' && e.data.serving.rdonly.length === 2,
        first.index + 1,
        'rdonly to move',
      )
      expect(moved.e.data.serving).toMatchObject({
        rdonly: [
          {shard: '-80', start: '', end: '80'},
          {shard: '80-', start: '80', end: ''},
        ],
        primary: [{shard: '0'}],
      })
      expect(Number(moved.e.id)).toBeGreaterThan(Number(first.e.id))
    } finally {
      serving.close()
    }
  })
})
