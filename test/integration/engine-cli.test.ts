// The apply engine through the built CLI (test/helpers/shardform-test-bin.mjs: bin/run.js with the test runtime
// installed) against a real etcd, with the test runtime's executors:
// the keyspace lock between concurrent applies, stale saved plans, gates with --no-wait and approvals from another
// process, retry, status, history, force-unlock, the resume check.
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {approveWorkflow} from '../../src/engine/commands.js'
import {tabletPath} from '../../src/topo/paths.js'
import type {TabletRecord} from '../../src/topo/records.js'
import type {TopoStore} from '../../src/topo/store.js'
import {
  assertBuilt,
  Cli,
  cliEnv,
  FOUR_SHARDS,
  initGuestbook,
  KS,
  onlyWorkflow,
  runCli,
  runKey,
  TWO_SHARDS,
  workflows,
} from '../helpers/engine-cli.js'
import {startEtcd, type TestEtcd} from '../helpers/etcd.js'

let etcd: TestEtcd
let scratch: string
const stores: TopoStore[] = []

beforeAll(async () => {
  assertBuilt()
  etcd = await startEtcd()
  scratch = await mkdtemp(join(tmpdir(), 'shardform-engine-cli-'))
})

afterAll(async () => {
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

const lines = (s: string) => s.trim().split('\n')

describe('the keyspace lock', () => {
  it('a second apply fails naming the holder; with --lock-timeout it waits, then proceeds once the holder stops', async () => {
    const {url, store} = await fresh()
    const slow = cliEnv(url, {SHARDFORM_TEST_SLEEP_MS: '1500'})
    const a = new Cli(['apply', TWO_SHARDS, '--auto-approve'], slow)
    const lock = await until(() => store.readLock(KS), 15_000)
    expect(lock.operation).toBe(`apply ${TWO_SHARDS}`)
    expect(lock.who).toContain(`pid ${a.proc.pid}`)

    const b = await runCli(['apply', TWO_SHARDS, '--auto-approve', '--lock-timeout', '0'], cliEnv(url))
    expect(b.code).toBe(1)
    expect(b.stderr).toContain(`keyspace ${KS} is locked by ${lock.who} for "apply ${TWO_SHARDS}"`)
    expect(b.stderr).toContain(`shardform force-unlock ${KS} ${lock.id}`)
    expect(b.stderr).not.toContain('--debug')

    const c = await runCli(['apply', '--lock-timeout', '1s'], cliEnv(url))
    expect(c.code).toBe(1)
    expect(c.stderr).toMatch(/gave up after 1\.\d s: keyspace test_keyspace is locked by/)

    // D waits for the lock; A is stopped with Ctrl-C (SIGINT): it records where it stopped and releases the lock.
    const d = new Cli(
      ['apply', '--auto-approve', '--lock-timeout', '60s'],
      cliEnv(url, {SHARDFORM_TEST_SLEEP_MS: '40'}),
    )
    // Ctrl-C while a task runs (each takes 1.5 s): right after the next task starts, not after the earlier ones.
    const startedSoFar = a.count(/: started/)
    await until(async () => a.count(/: started/) > startedSoFar || undefined, 30_000)
    expect(d.done).toBe(false)
    a.proc.kill('SIGINT')
    const ra = await a.exited
    expect(ra.code).toBe(130)
    expect(ra.stderr).toContain('Stopped. Resume with: shardform apply')
    expect(ra.stdout).toMatch(/stopped after [\d.]+ s \(interrupted \(SIGINT\)\); resumes on the next apply/)
    const rd = await d.exited
    expect(rd.code, rd.stderr).toBe(0)
    expect(rd.stdout).toMatch(
      /Resuming workflow test_keyspace-\d{8}-\d{6}-[0-9a-f]{4} \(applying plans\/guestbook\/2-shards\.yaml\), at phase \w+\./,
    )
    expect(rd.stdout).toContain('Apply complete!')
    const wf = await onlyWorkflow(store)
    expect(wf.state).toBe('done')
    expect(Object.values(wf.tasks).every((t) => t.state === 'done')).toBe(true)
    const types = wf.events.map((e) => e.type)
    expect(types).toContain('stopped')
    expect(types).toContain('resumed')
    expect(types.filter((t) => t === 'task_interrupted').length).toBeGreaterThan(0)
    expect(await store.readLock(KS)).toBeUndefined()
  })

  it('force-unlock needs the right lock id and names who held it', async () => {
    const {url, store} = await fresh()
    const held = await store.lock(KS, {operation: 'apply something (test holder)', timeoutMs: 0, ttlSeconds: 60})
    const wrong = await runCli(['force-unlock', KS, 'deadbeef0000'], cliEnv(url))
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain(`keyspace ${KS} is locked by ${held.record.id}`)
    expect(wrong.stderr).toContain('not deadbeef0000; nothing removed')
    expect((await store.readLock(KS))?.id).toBe(held.record.id)
    const right = await runCli(['force-unlock', KS, held.record.id], cliEnv(url))
    expect(right.code, right.stderr).toBe(0)
    expect(right.stdout).toContain(
      `Removed lock ${held.record.id} of keyspace ${KS}: it was held by ${held.record.who} for "apply something (test holder)"`,
    )
    expect(await store.readLock(KS)).toBeUndefined()
    const again = await runCli(['force-unlock', KS, held.record.id], cliEnv(url))
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('is not locked')
    await held.release()
  })
})

// Many CLI processes in a row: on a busy machine each takes seconds to start.
describe('saved plans and gates', {timeout: 180_000}, () => {
  it('refuses a stale saved plan and says what changed', async () => {
    const {url, store} = await fresh()
    const file = join(scratch, 'stale.plan')
    expect((await runCli(['plan', TWO_SHARDS, '--out', file], cliEnv(url))).code).toBe(0)
    const t = (await store.get<TabletRecord>(tabletPath('test-101')))!
    await store.update(tabletPath('test-101'), {...t.value, port: 17111}, t.version)
    const r = await runCli(['apply', file, '--auto-approve'], cliEnv(url))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`the saved plan ${file} is stale`)
    expect(r.stderr).toContain('- tablet test-101 changed')
    expect(r.stderr).toContain(`Run shardform plan again: shardform plan ${TWO_SHARDS} --out ${file}`)
    expect(await workflows(store)).toEqual([])
  })

  it('--no-wait exits 3 at an open gate and a later apply continues; approvals from another process unblock a waiting apply', async () => {
    const {url, store} = await fresh()
    const env = cliEnv(url)
    const file = join(scratch, 'gates.plan')
    expect((await runCli(['plan', TWO_SHARDS, '--out', file], env)).code).toBe(0)

    // No TTY, no --auto-approve, a saved plan: no overall question; the first gate stops it.
    const first = await runCli(['apply', file, '--no-wait'], env)
    expect(first.code, first.stderr).toBe(3)
    expect(first.stdout).toContain(
      'Waiting for approval: first task of apply_vschema (apply_vschema) — run: shardform approve test_keyspace --phase apply_vschema --first',
    )
    expect(first.stdout).toContain('then continue with: shardform apply')
    let wf = await onlyWorkflow(store)
    expect(wf.state).toBe('waiting')
    expect(wf.tasks['apply_vschema']!.state).toBe('waiting_approval')
    expect(await store.readLock(KS)).toBeUndefined()

    // Refusals: a stage that does not exist, a phase that has not started.
    const rest = await runCli(['approve', KS, '--rest'], env)
    expect(rest.code).toBe(1)
    expect(rest.stderr).toContain('has a single task, so there is no --rest')
    const later = await runCli(['approve', KS, '--phase', 'diff'], env)
    expect(later.code).toBe(1)
    expect(later.stderr).toContain('phase diff of workflow')
    expect(later.stderr).toContain('has not started yet (the current phase is apply_vschema)')

    const ok = await runCli(['approve', KS], env)
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(
      /^Approved first task of apply_vschema \(apply_vschema\) in workflow test_keyspace-\S+ \(as \S+@\S+\)\.$/m,
    )
    const nothing = await runCli(['approve', KS], env)
    expect(nothing.code).toBe(1)
    expect(nothing.stderr).toContain('is waiting for approval')

    const second = await runCli(['apply', '--no-wait'], env)
    expect(second.code, second.stderr).toBe(3)
    expect(second.stdout).toContain(`Resuming workflow ${wf.id}`)
    expect(second.stdout).toContain('shardform approve test_keyspace --phase create_shards --first')
    wf = await onlyWorkflow(store)
    expect(wf.tasks['apply_vschema']!.state).toBe('done')

    // The same saved plan resumes its own workflow rather than being called stale.
    const third = await runCli(['apply', file, '--no-wait'], env)
    expect(third.code, third.stderr).toBe(3)
    expect(third.stdout).toContain(`Resuming workflow ${wf.id}`)

    // A waiting apply (no TTY): each gate is approved from another process, and the apply goes on at once.
    const w = new Cli(['apply'], env)
    let approvals = 0
    for (;;) {
      // One "Waiting for approval" line per gate: wait for the next one not yet answered (it may already be there).
      await until(() => w.count(/Waiting for approval/) > approvals || w.done, 30_000)
      if (w.done) break
      const before = w.count(/Approved /)
      if (approvals < 4) {
        const r = await runCli(['approve', KS], env)
        expect(r.code, r.stderr).toBe(0)
      } else {
        // The same from this test process (quicker than a CLI start): another process as far as the apply knows.
        await approveWorkflow(store, KS, {who: 'tester@ci'})
      }
      approvals++
      // Nothing else wakes the apply (no polling): it goes on only if its watch saw the approval.
      await until(() => w.count(/Approved /) > before || w.done, 30_000)
    }
    const rw = await w.exited
    expect(rw.code, rw.stderr).toBe(0)
    expect(rw.stdout).toContain('Apply complete!')
    // create_shards first+rest, clone, wait first+rest, diff first+rest, three migrations, retire (copy_schema: none)
    expect(approvals).toBe(11)
    wf = await onlyWorkflow(store)
    expect(wf.state).toBe('done')
    expect(wf.approvals.map((a) => a.gate)).toEqual([
      'apply_vschema:first',
      'create_shards:first',
      'create_shards:rest',
      'clone:first',
      'wait_for_filtered_replication:first',
      'wait_for_filtered_replication:rest',
      'diff:first',
      'diff:rest',
      'migrate_rdonly:first',
      'migrate_replica:first',
      'migrate_primary:first',
      'retire_sources:first',
    ])
    expect(wf.approvals.every((a) => a.via === 'approve')).toBe(true)
    expect(wf.approvals.at(-1)!.by).toBe('tester@ci')
  })
})

describe('failures, retry, status, history', () => {
  it('a failed task shows the retry command; retry after the fix completes; status and history tell the story', async () => {
    const {url, store} = await fresh()
    const env = cliEnv(url)
    await store.create('test-control/fail', {tasks: ['diff/80-'], reason: 'rows differ'})
    const r = await runCli(['apply', TWO_SHARDS, '--auto-approve'], env)
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('diff/80-: failed (attempt 1): failing on demand (test-control/fail): rows differ')
    expect(r.stderr).toContain('diff/80- (attempt 1): failing on demand (test-control/fail): rows differ')
    expect(r.stderr).toContain('retry it with: shardform retry test_keyspace diff/80-')
    let wf = await onlyWorkflow(store)
    expect(wf.state).toBe('failed')
    expect(wf.tasks['diff/-80']!.state).toBe('done') // its sibling ran
    expect(wf.tasks['migrate_rdonly/0']!.state).toBe('pending') // the next phase did not start

    const st = await runCli(['status', '--json'], env)
    expect(st.code).toBe(0)
    const doc = JSON.parse(st.stdout) as {format_version: string; workflows: Array<Record<string, unknown>>}
    expect(doc.format_version).toBe('1')
    expect(doc.workflows).toHaveLength(1)
    expect(doc.workflows[0]).toMatchObject({
      id: wf.id,
      state: 'failed',
      failures: [
        {task: 'diff/80-', phase: 'diff', attempts: 1, retry_command: 'shardform retry test_keyspace diff/80-'},
      ],
      tasks: {total: 14, done: 9, running: 0, failed: 1},
    })
    const text = await runCli(['status', KS], env)
    expect(text.stdout).toContain(
      '✗ diff/80-  failed (attempt 1): failing on demand (test-control/fail): rows differ — retry: shardform retry test_keyspace diff/80-',
    )

    // Still broken: the retry fails again (attempt 2). Then fixed: the retry completes the workflow.
    const again = await runCli(['retry', KS, 'diff/80-', '--auto-approve'], env)
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('diff/80- (attempt 2)')
    const notFailed = await runCli(['retry', KS, 'diff/-80'], env)
    expect(notFailed.code).toBe(1)
    expect(notFailed.stderr).toContain('task diff/-80 of workflow')
    expect(notFailed.stderr).toContain('is done, not failed')
    await store.delete('test-control/fail')
    const fixed = await runCli(['retry', KS, 'diff/80-', '--auto-approve'], env)
    expect(fixed.code, fixed.stderr).toBe(0)
    expect(fixed.stdout).toContain('Apply complete!')
    wf = await onlyWorkflow(store)
    expect(wf.state).toBe('done')
    expect(wf.tasks['diff/80-']).toMatchObject({state: 'done', attempts: 3})
    expect((await store.list(`test-runs/${wf.id}/${runKey('diff/80-')}/`)).map((e) => e.path)).toEqual([
      `test-runs/${wf.id}/diff:80-/3`,
    ])

    const h = await runCli(['history', KS], env)
    expect(h.code).toBe(0)
    const rows = lines(h.stdout)
    expect(rows[0]).toMatch(/^TIME +WORKFLOW +WHO +EVENT +TASK +MESSAGE$/)
    const kinds = rows.slice(1).map((l) => l.split(/\s{2,}/)[3])
    expect(kinds[0]).toBe('created')
    expect(kinds.at(-1)).toBe('done')
    expect(kinds.filter((k) => k === 'retry')).toHaveLength(2)
    expect(kinds.filter((k) => k === 'task_failed')).toHaveLength(2)
    expect(h.stdout).toMatch(/retry +diff\/80- +Retry requested after attempt 1 failed: failing on demand/)
    const hj = JSON.parse((await runCli(['history', KS, '--json'], env)).stdout) as {
      events: Array<{at: string; workflow: string}>
    }
    expect(hj.events.map((e) => e.at)).toEqual([...hj.events.map((e) => e.at)].sort())
    expect(hj.events.every((e) => e.workflow === wf.id)).toBe(true)
  })
})

describe('choosing and checking the workflow', () => {
  it('refuses a different layout while a workflow is unfinished, and a resume the topology no longer fits', async () => {
    const {url, store} = await fresh()
    const env = cliEnv(url)
    const file = join(scratch, 'check.plan')
    expect((await runCli(['plan', TWO_SHARDS, '--out', file], env)).code).toBe(0)
    expect((await runCli(['apply', file, '--no-wait'], env)).code).toBe(3)
    const wf = await onlyWorkflow(store)

    const other = await runCli(['apply', FOUR_SHARDS, '--auto-approve'], env)
    expect(other.code).toBe(1)
    expect(other.stderr).toContain(`keyspace ${KS} has an unfinished workflow ${wf.id}`)
    expect(other.stderr).toContain(`${FOUR_SHARDS} asks for a different end state`)

    const bad = await runCli(
      ['apply', TWO_SHARDS, '--auto-approve'],
      cliEnv(url, {SHARDFORM_TEST_CHECK_PROBLEMS: 'shard -80 is missing;tablet test-200 moved to shard 80-'}),
    )
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain(
      `the topology no longer matches what workflow ${wf.id} expects: shard -80 is missing; tablet test-200 moved to shard 80-. Nothing was run.`,
    )
    expect(bad.stderr).toContain(`shardform status ${KS}`)
    const after = await onlyWorkflow(store)
    expect(Object.values(after.tasks).every((t) => t.attempts === 0)).toBe(true)
    expect(after.events.at(-1)).toMatchObject({type: 'check_failed'})
  })

  it('without a TTY and without --auto-approve, apply of a layout never prompts; without servers the pre-flight checks stop it', async () => {
    const {url, store} = await fresh()
    const noTty = await runCli(['apply', TWO_SHARDS], cliEnv(url, {}))
    expect(noTty.code).toBe(1)
    expect(noTty.stderr).toContain('without confirmation, and there is no terminal to ask on')
    expect(await workflows(store)).toEqual([])
    const r = await runCli(['apply', TWO_SHARDS, '--auto-approve'], cliEnv(url, {}, false))
    // The data plane's pre-flight checks need the tablets, which this test does not start: apply stops before
    // taking the lock or recording a workflow, naming the unreachable tablets.
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('pre-flight check(s) failed; apply did not start and changed nothing')
    expect(r.stderr).toMatch(/FAIL\s+reachable\s+test-100/)
    expect(await workflows(store)).toEqual([])
  })
})

async function until<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms`)
    await sleep(25)
  }
}
