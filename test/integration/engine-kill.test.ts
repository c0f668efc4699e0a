// kill -9 of a real `shardform apply --auto-approve` at 20 random moments of one workflow whose tasks sleep, each
// followed at once by the next apply — no force-unlock, no waiting for the dead process's lease (it is provably gone:
// same host, pid not running) — and resumed until done: every task ends done exactly once. The test executors commit a run record with the task's
// `done` (ops), so exactly one run record per task proves it; their start records show what was re-run, and how.
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {lockPath} from '../../src/topo/paths.js'
import type {TopoStore} from '../../src/topo/store.js'
import {
  assertBuilt,
  Cli,
  cliEnv,
  initGuestbook,
  KS,
  onlyWorkflow,
  runCli,
  runKey,
  TWO_SHARDS,
  workflows,
} from '../helpers/engine-cli.js'
import {startEtcd, type TestEtcd} from '../helpers/etcd.js'
import {rng} from '../helpers/fault-cluster.js'

let etcd: TestEtcd
let store: TopoStore | undefined

beforeAll(async () => {
  assertBuilt()
  etcd = await startEtcd()
})

afterAll(async () => {
  await store?.close()
  await etcd?.stop()
})

it(
  'survives kill -9 at 20 random moments: every task done exactly once, the workflow done',
  {timeout: 150_000},
  async () => {
    const url = etcd.newUrl()
    store = await initGuestbook(url)
    const seed = Number(process.env.SHARDFORM_KILL_SEED ?? Date.now() % 1_000_000)
    console.log(`kill test seed ${seed} (replay with SHARDFORM_KILL_SEED=${seed})`)
    const random = rng(seed)
    // 4 checkpointed steps of 300 ms per task: a killed task resumes at its last step.
    const env = cliEnv(url, {SHARDFORM_TEST_SLEEP_MS: '1200', SHARDFORM_TEST_STEPS: '4'})
    // --lock-timeout 0s: an apply that found the dead apply's lock held would fail at once instead of waiting for its
    // lease (15 s): each next apply must take the lock over.
    const args = ['apply', TWO_SHARDS, '--auto-approve', '--lock-timeout', '0s']

    let kills = 0
    let tookOver = 0
    for (let i = 0; i < 20; i++) {
      const p = new Cli(args, env)
      // Every fourth kill lands early (start-up, lock, plan, workflow creation); the others at a random moment once the
      // apply is under way (it has printed its first line).
      const early = i % 4 === 0
      const delay = early ? 50 + Math.floor(random() * 700) : Math.floor(random() * 1200)
      if (!early) await Promise.race([p.waitFor(/\S/, 20_000).catch(() => undefined), p.exited])
      await Promise.race([sleep(delay), p.exited])
      if (p.done) {
        const r = await p.exited
        throw new Error(
          `the workflow finished before kill ${i + 1} (delay ${delay} ms): make it longer. ${r.stdout}\n${r.stderr}`,
        )
      }
      p.proc.kill('SIGKILL')
      const r = await p.exited
      expect(r.signal).toBe('SIGKILL')
      kills++
      // The dead apply's lock stays in etcd under its lease; readLock already treats a provably gone holder as free.
      if ((await store.get(lockPath(KS)))?.value) tookOver++
    }
    expect(kills).toBe(20)
    // Most kills land while the apply holds the lock; each of those was taken over by the next apply at once.
    expect(tookOver).toBeGreaterThanOrEqual(5)

    // Resume until done (a resumed apply may itself be unlucky on a busy machine: allow a few).
    let last
    for (let k = 0; k < 4; k++) {
      last = await runCli(args, env)
      if (last.code === 0) break
    }
    expect(last!.code, `${last!.stdout}\n${last!.stderr}`).toBe(0)
    expect(last!.stdout).toMatch(/Resuming workflow|Created workflow/)

    const wf = await onlyWorkflow(store)
    expect(wf.state).toBe('done')
    expect(Object.keys(wf.tasks)).toHaveLength(14)
    let restarts = 0
    for (const t of Object.values(wf.tasks)) {
      expect(t.state, t.id).toBe('done')
      // Exactly one run record committed with `done`: the task's topology effect happened once.
      const runs = await store.list<{attempt: number}>(`test-runs/${wf.id}/${runKey(t.id)}/`)
      expect(
        runs.map((e) => e.value.attempt),
        t.id,
      ).toEqual([t.attempts])
      // Every start after the first was told it was resuming, and continued from its checkpoint.
      const starts = (
        await store.list<{attempt: number; resuming: boolean; checkpoint: {step: number}}>(
          `test-starts/${wf.id}/${runKey(t.id)}/`,
        )
      ).map((e) => e.value)
      expect(starts.length, t.id).toBeGreaterThanOrEqual(1)
      for (const s of starts) expect(s.resuming, `${t.id} attempt ${s.attempt}`).toBe(s.attempt > 1)
      restarts += starts.length - 1
    }
    expect(await workflows(store)).toHaveLength(1)
    expect(await store.readLock(KS)).toBeUndefined()
    const interrupted = wf.events.filter((e) => e.type === 'task_interrupted').length
    console.log(
      `kills ${kills}, locks of dead applies taken over ${tookOver}, task restarts ${restarts}, interrupted tasks recorded ${interrupted}, events ${wf.events.length}`,
    )
  },
)

it('etcd down for a few seconds mid-apply: the apply waits for it and completes', {timeout: 90_000}, async () => {
  const url = etcd.newUrl()
  const s = await initGuestbook(url)
  try {
    const env = cliEnv(url, {SHARDFORM_TEST_SLEEP_MS: '400', SHARDFORM_TEST_STEPS: '4'})
    const p = new Cli(['apply', TWO_SHARDS, '--auto-approve'], env)
    await p.waitFor(/create_shards\/-80: started/, 30_000)
    await etcd.kill()
    await sleep(3000)
    expect(p.done).toBe(false)
    await etcd.restart()
    const r = await p.exited
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
    expect(r.stdout).toContain('Apply complete!')
    expect(r.stdout).toMatch(/The topology is unreachable: cannot .*; retrying for up to \d+ s more\./)
    const wf = await onlyWorkflow(s)
    expect(wf.state).toBe('done')
    for (const t of Object.values(wf.tasks)) {
      expect((await s.list(`test-runs/${wf.id}/${runKey(t.id)}/`)).length, t.id).toBe(1)
    }
  } finally {
    await s.close()
  }
})
