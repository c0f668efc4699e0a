// `shardform server` through the built CLI with the test runtime (test/helpers/shardform-test-bin.mjs) against a real
// etcd: registration and `server list`, a second server with a live id, apply --detach and approvals while servers run
// the workflow, kill -9 and SIGTERM of the server driving it, apply following (exit codes, Ctrl-C), an unreachable
// topology at start, a record the server cannot read. Processes are timed by their log lines, never by the clock.
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {approveWorkflow} from '../../src/engine/commands.js'
import {follow} from '../../src/engine/follow.js'
import type {RunnerEvent} from '../../src/engine/runner.js'
import {loadLayout} from '../../src/layout/index.js'
import {initKeyspace} from '../../src/layout/init.js'
import type {LockRecord} from '../../src/topo/records.js'
import type {TopoStore} from '../../src/topo/store.js'
import {
  assertBuilt,
  Cli,
  cliEnv,
  initGuestbook,
  KS,
  ONE_SHARD,
  onlyWorkflow,
  ROOT,
  runCli,
  runKey,
  TWO_SHARDS,
} from '../helpers/engine-cli.js'
import {startEtcd, type TestEtcd} from '../helpers/etcd.js'
import {freePorts} from '../helpers/ports.js'

let etcd: TestEtcd
let scratch: string
const stores: TopoStore[] = []
const procs: Cli[] = []

beforeAll(async () => {
  assertBuilt()
  etcd = await startEtcd()
  scratch = await mkdtemp(join(tmpdir(), 'shardform-server-engine-'))
})

afterAll(async () => {
  for (const p of procs) if (!p.done) p.proc.kill('SIGKILL')
  await Promise.allSettled(procs.map((p) => p.exited))
  await Promise.allSettled(stores.map((s) => s.close()))
  await etcd?.stop()
  await rm(scratch, {recursive: true, force: true})
})

async function fresh(): Promise<{url: string; store: TopoStore}> {
  const url = etcd.newUrl()
  const store = await initGuestbook(url)
  stores.push(store)
  return {url, store}
}

function start(args: string[], env: NodeJS.ProcessEnv): Cli {
  const c = new Cli(args, env)
  procs.push(c)
  return c
}

function server(id: string, url: string, extra: Record<string, string> = {}, ttl = 3): Cli {
  return start(['server', '--id', id, '--lock-ttl', String(ttl)], cliEnv(url, extra))
}

async function until<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 60_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** Approve whatever gate is open, until the workflow finishes (in-process, as `shardform approve` does). */
function approveAll(store: TopoStore, stop: {done: boolean}): Promise<void> {
  return (async () => {
    while (!stop.done) {
      await approveWorkflow(store, KS, {stage: 'all'}).catch(() => undefined)
      await sleep(100)
    }
  })()
}

async function savedPlan(url: string, name: string): Promise<string> {
  const file = join(scratch, `${name}.plan`)
  const r = await runCli(['plan', TWO_SHARDS, '--out', file], cliEnv(url))
  expect(r.code, r.stderr).toBe(0)
  return file
}

const holder = async (store: TopoStore): Promise<LockRecord | undefined> => {
  const l = await store.readLock(KS)
  return l?.server ? l : undefined
}

/** The lock once a server other than `from` holds it; on a timeout, what the servers printed last says why not. */
function takenOver(store: TopoStore, from: string, servers: Cli[] = []): Promise<LockRecord> {
  return until(
    async () => {
      const l = await holder(store)
      return l && l.server !== from ? l : undefined
    },
    30_000,
    'the other server to take over',
  ).catch((e: Error) => {
    const tails = servers.map((c) => (c.stdout + c.stderr).split('\n').slice(-25).join('\n'))
    throw new Error([e.message, ...tails].join('\n---\n'))
  })
}

async function finished(store: TopoStore) {
  return until(
    async () => {
      const wf = await onlyWorkflow(store)
      return wf.state === 'done' ? wf : undefined
    },
    120_000,
    'the workflow to finish',
  )
}

/** Exactly one committed run per task (the test runtime's ops commit with `done`). */
async function expectExactlyOnce(store: TopoStore, wfId: string, tasks: string[]) {
  for (const t of tasks) {
    const runs = await store.list(`test-runs/${wfId}/${runKey(t)}/`)
    expect(runs.length, `${t} committed ${runs.length} times`).toBe(1)
  }
}

describe('registry', () => {
  it('servers register, list as JSON, and a second server with a live id refuses naming its host and pid', async () => {
    const {url} = await fresh()
    const s1 = server('s1', url)
    const s2 = server('s2', url)
    await s1.waitFor(/server s1 registered/)
    await s2.waitFor(/server s2 registered/)
    const list = await runCli(['server', 'list', '--json'], cliEnv(url))
    expect(list.code, list.stderr).toBe(0)
    const json = JSON.parse(list.stdout) as {servers: {id: string; host: string; pid: number; workflows: unknown[]}[]}
    expect(json.servers.map((s) => [s.id, s.host, s.pid])).toEqual([
      ['s1', hostname(), s1.proc.pid],
      ['s2', hostname(), s2.proc.pid],
    ])
    expect(json.servers.every((s) => s.workflows.length === 0)).toBe(true)

    const dup = await runCli(['server', '--id', 's1'], cliEnv(url))
    expect(dup.code).toBe(1)
    expect(dup.stderr).toContain(`a server with id s1 is already running on ${hostname()} pid ${s1.proc.pid}`)
    expect(dup.stderr).not.toContain('    at ')

    // kill -9: the dead server is not listed (same host: provably gone), and its id is free again at once.
    s1.proc.kill('SIGKILL')
    await s1.exited
    const after = JSON.parse((await runCli(['server', 'list', '--json'], cliEnv(url))).stdout) as typeof json
    expect(after.servers.map((s) => s.id)).toEqual(['s2'])
    const again = server('s1', url)
    await again.waitFor(/server s1 registered/)

    s2.proc.kill('SIGTERM')
    again.proc.kill('SIGTERM')
    expect((await s2.exited).code).toBe(0)
    expect((await again.exited).code).toBe(0)
    expect(s2.stdout).toContain('server s2 stopped and deregistered')
    const none = await runCli(['server', 'list'], cliEnv(url))
    expect(none.stdout).toContain('No live server')
  })

  it('waits for an unreachable topology with a clear line every few seconds, and stops on SIGTERM', async () => {
    const [port] = await freePorts(1)
    const s = start(['server', '--id', 'w', '--topo', `etcd://127.0.0.1:${port}/nowhere`], cliEnv(etcd.newUrl()))
    await until(() => s.count(/waiting for the topology: cannot reach etcd/) >= 2, 60_000, 'two waiting lines')
    s.proc.kill('SIGTERM')
    const r = await s.exited
    expect(r.code).toBe(0)
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /)
  })
})

// Servers, CLI followers and their takeovers: many processes; on a busy machine each takes seconds to start.
describe('servers run workflows', {timeout: 180_000}, () => {
  it('apply --detach records it; a server runs it between approvals; kill -9 of that server mid-phase: the other resumes and it completes', async () => {
    const {url, store} = await fresh()
    const slow = {SHARDFORM_TEST_SLEEP_MS: '1200'}
    const servers = {s1: server('s1', url, slow), s2: server('s2', url, slow)}
    await servers.s1.waitFor(/registered/)
    await servers.s2.waitFor(/registered/)
    const plan = await savedPlan(url, 'detach')

    const a = await runCli(['apply', plan, '--detach'], cliEnv(url))
    expect(a.code, a.stderr).toBe(0)
    expect(a.stdout).toMatch(/Workflow \S+ recorded; the servers run it/)
    expect(a.stdout).toContain(`shardform status ${KS} --watch`)
    const wf = await onlyWorkflow(store)

    // A server claims it and waits at the first gate: nobody approved, nobody ran a task.
    const first = await until(() => holder(store), 30_000, 'a server to claim the workflow')
    const driver = servers[first.server as 's1' | 's2']
    await driver.waitFor(/Waiting for approval: first task of apply_vschema/)
    expect((await store.list(`test-starts/${wf.id}/`)).length).toBe(0)

    const stop = {done: false}
    const approving = approveAll(store, stop)
    try {
      // Mid-phase: the clone task has started on the driver.
      await until(() => store.get(`test-starts/${wf.id}/clone:0/1`), 60_000, 'clone/0 to start')
      driver.proc.kill('SIGKILL')
      await driver.exited
      const other = first.server === 's1' ? servers.s2 : servers.s1
      const next = await takenOver(store, first.server!)
      expect(next.pid).toBe(other.proc.pid)
      const done = await finished(store)
      expect(done.id).toBe(wf.id)
      await other.waitFor(new RegExp(`workflow ${wf.id}: done; released keyspace ${KS}`))
    } finally {
      stop.done = true
      await approving
    }
    // The interrupted clone resumed from its checkpoint on the other server; every task committed exactly once.
    const resumed = await store.get<{resuming: boolean}>(`test-starts/${wf.id}/clone:0/2`)
    expect(resumed?.value.resuming).toBe(true)
    await expectExactlyOnce(store, wf.id, Object.keys(wf.tasks))
  })

  it('on the file backend (one host): two servers share it; kill -9 of the driver mid-phase, the other takes over at once', async () => {
    const url = `file:${join(scratch, 'file-topo')}`
    const store = await initGuestbook(url)
    stores.push(store)
    const slow = {SHARDFORM_TEST_SLEEP_MS: '600'}
    // A long lease: a takeover on one host goes by the dead pid, and on a loaded machine the other server's writes can
    // keep the store-wide mutex from a 3 s lease's heartbeat (it then exits, as a lost registration should).
    const servers = {s1: server('s1', url, slow, 15), s2: server('s2', url, slow, 15)}
    await servers.s1.waitFor(/registered/)
    await servers.s2.waitFor(/registered/)
    const list = await runCli(['server', 'list', '--json'], cliEnv(url))
    expect(list.code, list.stderr).toBe(0)
    expect((JSON.parse(list.stdout) as {servers: {id: string}[]}).servers.map((x) => x.id)).toEqual(['s1', 's2'])
    const a = await runCli(['apply', await savedPlan(url, 'file'), '--detach'], cliEnv(url))
    expect(a.code, a.stderr).toBe(0)
    const wf = await onlyWorkflow(store)
    const stop = {done: false}
    const approving = approveAll(store, stop)
    try {
      const first = await until(() => holder(store), 30_000, 'a server to claim the workflow')
      await until(() => store.get(`test-starts/${wf.id}/clone:0/1`), 60_000, 'clone/0 to start')
      servers[first.server as 's1' | 's2'].proc.kill('SIGKILL')
      // Same host: the dead pid's lock is taken over without waiting for its expiry.
      const next = await takenOver(store, first.server!, [servers.s1, servers.s2])
      expect(next.pid).toBe(servers[first.server === 's1' ? 's2' : 's1'].proc.pid)
      await finished(store)
    } finally {
      stop.done = true
      await approving
    }
    await expectExactlyOnce(store, wf.id, Object.keys(wf.tasks))
  })

  it('apply follows with the same lines and exit code; SIGTERM of each server in turn hands the workflow on', async () => {
    const {url, store} = await fresh()
    const slow = {SHARDFORM_TEST_SLEEP_MS: '800'}
    const s1 = server('s1', url, slow)
    await s1.waitFor(/registered/)
    const plan = await savedPlan(url, 'follow')
    const apply = start(['apply', plan, '--auto-approve'], cliEnv(url))
    await apply.waitFor(/Created workflow/)
    const wf = await until(() => onlyWorkflow(store).catch(() => undefined), 10_000)
    await until(async () => (await holder(store))?.server === 's1', 30_000, 's1 to claim')

    // s2 joins; SIGTERM s1 while a phase runs: it hands the workflow back, s2 takes it.
    const s2 = server('s2', url, slow)
    await s2.waitFor(/registered/)
    await apply.waitFor(/create_shards\/\S+: started/)
    s1.proc.kill('SIGTERM')
    expect((await s1.exited).code).toBe(0)
    expect(s1.stdout).toMatch(/SIGTERM: handing back/)
    expect(s1.stdout).toMatch(new RegExp(`workflow ${wf.id}: interrupted`))
    await until(async () => (await holder(store))?.server === 's2', 30_000, 's2 to take over')

    // s3 joins; SIGTERM s2 in turn.
    const s3 = server('s3', url, slow)
    await s3.waitFor(/registered/)
    await apply.waitFor(/clone\/0: started/, 60_000)
    s2.proc.kill('SIGTERM')
    expect((await s2.exited).code).toBe(0)
    await until(async () => (await holder(store))?.server === 's3', 30_000, 's3 to take over')

    const r = await apply.exited
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Apply complete! Workflow ${wf.id} done`)
    expect(r.stdout).toMatch(/Phase retire_sources done/)
    // The follower approved the gates (auto-approve), the servers never did.
    const done = await onlyWorkflow(store)
    expect(done.approvals.length).toBeGreaterThan(0)
    expect(done.approvals.every((x) => x.via === 'auto-approve' && !x.by.startsWith('server'))).toBe(true)
    await expectExactlyOnce(store, wf.id, Object.keys(done.tasks))
    s3.proc.kill('SIGTERM')
    expect((await s3.exited).code).toBe(0)
  })

  it('a following apply: --no-wait exits 3 at a gate; Ctrl-C stops only the follower; a record it cannot read is left alone', async () => {
    const {url, store} = await fresh()
    // A record this server cannot read (a newer plan format) in another keyspace.
    await store.create('workflows/other-1/Workflow', {
      id: 'other-1',
      keyspace: 'other',
      state: 'running',
      plan: {format_version: '9', phases: []},
      tasks: {},
      events: [],
      approvals: [],
    })
    const s1 = server('s1', url)
    await s1.waitFor(/not taking workflow other-1: its record cannot be read .*format version "9"/)
    const plan = await savedPlan(url, 'nowait')

    const w = await runCli(['apply', plan, '--no-wait'], cliEnv(url))
    expect(w.code, w.stderr).toBe(3)
    expect(w.stdout).toMatch(/is waiting for approval: first task of apply_vschema/)
    expect(w.stdout).toContain(`shardform approve ${KS}`)

    const f = start(['apply', plan], cliEnv(url))
    await f.waitFor(/Following workflow \S+, which the servers run/)
    f.proc.kill('SIGINT')
    const r = await f.exited
    expect(r.code).toBe(130)
    expect(r.stderr).toMatch(
      /Stopped following workflow \S+ \(only this command stopped\): the servers keep running it/,
    )
    expect((await holder(store))?.server).toBe('s1')
    expect(await store.readLock('other')).toBeUndefined()

    // status names the server that runs it.
    const st = await runCli(['status', KS], cliEnv(url))
    expect(st.stdout).toMatch(/Run by server s1 \(/)
    const sj = JSON.parse((await runCli(['status', KS, '--json'], cliEnv(url))).stdout) as {
      workflows: {lock: {server?: string} | null}[]
    }
    expect(sj.workflows[0]?.lock?.server).toBe('s1')
    s1.proc.kill('SIGTERM')
    expect((await s1.exited).code).toBe(0)
  })

  it('following on a terminal: each gate is asked, the answer recorded, and the server acts on it', async () => {
    const {url, store} = await fresh()
    const s1 = server('s1', url)
    await s1.waitFor(/registered/)
    const plan = await savedPlan(url, 'tty')
    const rec = await runCli(['apply', plan, '--detach'], cliEnv(url))
    expect(rec.code, rec.stderr).toBe(0)
    const wf = await onlyWorkflow(store)
    const asked: string[] = []
    const events: RunnerEvent[] = []
    const r = await follow(store, {
      workflow: wf.id,
      emitFrom: 0,
      signal: new AbortController().signal,
      who: 'tester@tty',
      ui: {
        askGate: async (stage) => {
          asked.push(stage.gate)
          return true
        },
        emit: (ev) => events.push(ev),
      },
    })
    expect(r.state).toBe('done')
    const done = await onlyWorkflow(store)
    expect(asked.length).toBeGreaterThan(0)
    expect(new Set(asked).size).toBe(asked.length) // each gate asked once
    expect(done.approvals.map((a) => [a.gate, a.via, a.by])).toEqual(asked.map((g) => [g, 'tty', 'tester@tty']))
    // Every recorded event was shown once, in order, from `created` on.
    const shown = events.flatMap((e) => (e.kind === 'event' ? [e.event] : []))
    expect(shown).toEqual(done.events)
    s1.proc.kill('SIGTERM')
    expect((await s1.exited).code).toBe(0)
  })

  it('fair share: two workflows on two servers, one each', async () => {
    const {url, store} = await fresh()
    // A second keyspace with its own tablets (the guestbook renamed).
    const copy = async (file: string) => {
      const text = (await readFile(join(ROOT, file), 'utf8'))
        .replace(/^keyspace: test_keyspace/m, 'keyspace: ks2')
        .replace(/^database: vt_test_keyspace/m, 'database: vt_ks2')
        .replace(/vschema: \.\/vschema\.json/, `vschema: ${join(ROOT, 'plans/guestbook/vschema.json')}`)
        .replaceAll('alias: test-', 'alias: ks2-')
      const out = join(scratch, `ks2-${file.split('/').pop()}`)
      await writeFile(out, text)
      return out
    }
    await initKeyspace(store, loadLayout(await copy(ONE_SHARD)))
    const ks2Split = await copy(TWO_SHARDS)
    const s1 = server('s1', url)
    const s2 = server('s2', url)
    await s1.waitFor(/registered/)
    await s2.waitFor(/registered/)
    const plans = [await savedPlan(url, 'fair-1')]
    const p2 = join(scratch, 'fair-2.plan')
    expect((await runCli(['plan', ks2Split, '--out', p2], cliEnv(url))).code).toBe(0)
    plans.push(p2)
    for (const p of plans) expect((await runCli(['apply', p, '--detach'], cliEnv(url))).code).toBe(0)
    const holders = await until(
      async () => {
        const h = [(await store.readLock(KS))?.server, (await store.readLock('ks2'))?.server]
        return h.every(Boolean) ? h : undefined
      },
      30_000,
      'both workflows to be claimed',
    )
    expect([...holders].sort()).toEqual(['s1', 's2'])
    const list = JSON.parse((await runCli(['server', 'list', '--json'], cliEnv(url))).stdout) as {
      servers: {id: string; workflows: {keyspace: string}[]}[]
    }
    expect(list.servers.map((x) => x.workflows.length)).toEqual([1, 1])
    s1.proc.kill('SIGTERM')
    s2.proc.kill('SIGTERM')
    expect((await s1.exited).code).toBe(0)
    expect((await s2.exited).code).toBe(0)
  })
})
