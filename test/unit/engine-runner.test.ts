// The runner against a file-backed topology with deterministic executors: order, parallel vs sequential failures,
// gates, approvals across restarts, retry, resume after a crash, Ctrl-C, exactly-once ops, checkpoints, outages.
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterEach, describe, expect, it} from 'vitest'
import {approveWorkflow} from '../../src/engine/commands.js'
import {Runner, type RunnerEvent} from '../../src/engine/runner.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {addEvent, approve, newWorkflowRecord, resetForRetry, type GateStage} from '../../src/engine/workflow.js'
import {WorkflowWriter, WRITER_UNAVAILABLE} from '../../src/engine/writer.js'
import {FileTopoStore} from '../../src/topo/file.js'
import {fixture, FlakyStore, makePlan, Recorder, untilAborted, until, type Fixture} from '../helpers/engine.js'

let fx: Fixture | undefined
afterEach(async () => {
  await fx?.close()
  fx = undefined
})

const taskStates = (wf: WorkflowRecord) => Object.fromEntries(Object.values(wf.tasks).map((t) => [t.id, t.state]))

// Each task waits until `n` tasks run at once (or 3 s pass): deterministic whatever the machine's speed.
function barrier(n: number) {
  let waiting: Array<() => void> = []
  return async (_ctx: unknown, r: Recorder) => {
    if (r.current >= n) {
      for (const w of waiting) w()
      waiting = []
      return
    }
    await new Promise<void>((resolve) => {
      waiting.push(resolve)
      setTimeout(resolve, 3000)
    })
  }
}

describe('phases and tasks', () => {
  it('runs phases in plan order, each task once, and finishes the workflow', async () => {
    fx = await fixture(
      makePlan([
        {name: 'apply_vschema', tasks: ['ks']},
        {name: 'create_shards', tasks: 3},
        {name: 'migrate_primary', tasks: 2},
      ]),
    )
    const rec = new Recorder()
    rec.delayMs = 15
    const out = await fx.runner(rec.runtime()).run()
    expect(out.state).toBe('done')
    expect(rec.calls.map((c) => c.task)).toEqual([
      'apply_vschema/ks',
      'create_shards/t0',
      'create_shards/t1',
      'create_shards/t2',
      'migrate_primary/t0',
      'migrate_primary/t1',
    ])
    // A phase starts only when every task of the previous one has ended.
    const phaseOf = (id: string) => id.split('/')[0]
    const order = ['apply_vschema', 'create_shards', 'migrate_primary']
    for (let i = 1; i < order.length; i++) {
      const prevEnd = Math.max(...rec.calls.filter((c) => phaseOf(c.task) === order[i - 1]).map((c) => c.end!))
      const nextStart = Math.min(...rec.calls.filter((c) => phaseOf(c.task) === order[i]).map((c) => c.start))
      expect(nextStart).toBeGreaterThanOrEqual(prevEnd)
    }
    const wf = await fx.read()
    expect(wf.state).toBe('done')
    expect(wf.finishedAt).toBeTruthy()
    expect(
      Object.values(wf.tasks).every((t) => t.state === 'done' && t.attempts === 1 && t.runs?.[0]?.result === 'done'),
    ).toBe(true)
    const types = wf.events.map((e) => e.type)
    expect(types[0]).toBe('created')
    expect(types.at(-1)).toBe('done')
    expect(types.filter((t) => t === 'phase_started')).toHaveLength(3)
    expect(types.filter((t) => t === 'phase_done')).toHaveLength(3)
  })

  it('runs a parallel phase concurrently, bounded by parallelism (and diff by the layout setting)', async () => {
    const plan = makePlan(
      [
        {name: 'clone', tasks: 6},
        {name: 'diff', tasks: 4},
      ],
      'ks',
      {diffParallelism: 2},
    )
    fx = await fixture(plan)
    const rec = new Recorder()
    const three = barrier(3)
    for (let i = 0; i < 6; i++) rec.on(`clone/t${i}`, three)
    await fx.runner(rec.runtime(), {parallelism: 3}).run()
    expect(rec.maxConcurrent).toBe(3)

    await fx.close()
    fx = await fixture(plan)
    const wide = new Recorder()
    const six = barrier(6)
    for (let i = 0; i < 6; i++) wide.on(`clone/t${i}`, six)
    let diffMax = 0
    const two = barrier(2)
    for (let i = 0; i < 4; i++) {
      wide.on(`diff/t${i}`, async (ctx, r) => {
        await two(ctx, r)
        diffMax = Math.max(diffMax, r.current)
        await sleep(20)
      })
    }
    expect((await fx.runner(wide.runtime(), {parallelism: 10}).run()).state).toBe('done')
    expect(wide.maxConcurrent).toBe(6) // all clone tasks at once
    expect(diffMax).toBe(2)
  })

  it('a failed task in a parallel phase does not stop its siblings; the next phase does not start', async () => {
    fx = await fixture(
      makePlan([
        {name: 'create_shards', tasks: 3},
        {name: 'copy_schema', tasks: 2},
      ]),
    )
    const rec = new Recorder()
    rec.delayMs = 30
    rec.on('create_shards/t0', async () => {
      throw new Error('disk full on t0')
    })
    const out = await fx.runner(rec.runtime()).run()
    expect(out.state).toBe('failed')
    if (out.state !== 'failed') return
    expect(out.failed.map((t) => t.id)).toEqual(['create_shards/t0'])
    expect(rec.started('create_shards/t1')[0]?.outcome).toBe('done')
    expect(rec.started('create_shards/t2')[0]?.outcome).toBe('done')
    expect(rec.calls.some((c) => c.task.startsWith('copy_schema'))).toBe(false)
    const wf = await fx.read()
    expect(wf.state).toBe('failed')
    expect(wf.tasks['create_shards/t0']).toMatchObject({state: 'failed', attempts: 1, error: 'disk full on t0'})
    const failed = wf.events.find((e) => e.type === 'failed')!
    expect(failed.message).toContain('shardform retry ks create_shards/t0')
  })

  it('a failure in a sequential phase stops the remaining tasks', async () => {
    fx = await fixture(makePlan([{name: 'migrate_primary', tasks: 3}]))
    const rec = new Recorder()
    rec.on('migrate_primary/t1', async () => {
      throw new Error('cutover timed out')
    })
    const out = await fx.runner(rec.runtime()).run()
    expect(out.state).toBe('failed')
    expect(rec.calls.map((c) => c.task)).toEqual(['migrate_primary/t0', 'migrate_primary/t1'])
    expect(taskStates(await fx.read())).toEqual({
      'migrate_primary/t0': 'done',
      'migrate_primary/t1': 'failed',
      'migrate_primary/t2': 'pending',
    })
  })
})

describe('gates', () => {
  it('canary: the first task alone, the rest only after it is done; --no-wait stops at each open gate', async () => {
    fx = await fixture(makePlan([{name: 'diff', gate: 'canary', tasks: 3}]))
    const rec = new Recorder()
    let out = await fx.runner(rec.runtime(), {noWait: true}).run()
    expect(out.state).toBe('waiting')
    if (out.state === 'waiting')
      expect(out.stage).toMatchObject({stage: 'first', tasks: ['diff/t0'], gate: 'diff:first'})
    expect(rec.calls).toHaveLength(0)
    let wf = await fx.read()
    expect(wf.state).toBe('waiting')
    expect(wf.tasks['diff/t0']!.state).toBe('waiting_approval')
    expect(wf.events.at(-1)).toMatchObject({type: 'waiting'})
    expect(wf.events.at(-1)!.message).toContain('shardform approve ks --phase diff --first')

    // The rest cannot be approved before the first task is done.
    await expect(approveWorkflow(fx.store, 'ks', {stage: 'rest', who: 'ops@ci'})).rejects.toThrow(
      /open only when its first task diff\/t0 is done/,
    )
    await approveWorkflow(fx.store, 'ks', {who: 'ops@ci'})
    await fx.reload()
    out = await fx.runner(rec.runtime(), {noWait: true}).run()
    expect(out.state).toBe('waiting')
    if (out.state === 'waiting') expect(out.stage).toMatchObject({stage: 'rest', tasks: ['diff/t1', 'diff/t2']})
    expect(rec.calls.map((c) => c.task)).toEqual(['diff/t0'])

    await approveWorkflow(fx.store, 'ks', {phase: 'diff', stage: 'rest', who: 'ops@ci'})
    await fx.reload()
    out = await fx.runner(rec.runtime(), {noWait: true}).run()
    expect(out.state).toBe('done')
    expect(rec.calls.map((c) => c.task).sort()).toEqual(['diff/t0', 'diff/t1', 'diff/t2'])
    wf = await fx.read()
    expect(wf.approvals.map((a) => [a.gate, a.tasks, a.by, a.via])).toEqual([
      ['diff:first', ['diff/t0'], 'ops@ci', 'approve'],
      ['diff:rest', ['diff/t1', 'diff/t2'], 'ops@ci', 'approve'],
    ])
  })

  it('phase gate: one approval for all tasks; none: no approval', async () => {
    fx = await fixture(
      makePlan([
        {name: 'copy_schema', gate: 'none', tasks: 2},
        {name: 'clone', gate: 'phase', tasks: 3},
      ]),
    )
    const rec = new Recorder()
    const three = barrier(3)
    for (let i = 0; i < 3; i++) rec.on(`clone/t${i}`, three)
    let out = await fx.runner(rec.runtime(), {noWait: true}).run()
    expect(out.state).toBe('waiting')
    if (out.state === 'waiting')
      expect(out.stage).toMatchObject({stage: 'all', gate: 'clone:all', tasks: ['clone/t0', 'clone/t1', 'clone/t2']})
    expect(rec.calls.map((c) => c.task)).toEqual(['copy_schema/t0', 'copy_schema/t1'])
    await expect(approveWorkflow(fx.store, 'ks', {stage: 'first'})).rejects.toThrow(/phase gate/)
    await approveWorkflow(fx.store, 'ks')
    await fx.reload()
    out = await fx.runner(rec.runtime(), {noWait: true}).run()
    expect(out.state).toBe('done')
    expect(rec.maxConcurrent).toBe(3)
    expect((await fx.read()).approvals).toHaveLength(1)
  })

  it('auto-approve records each stage as it opens, keeping the canary order', async () => {
    fx = await fixture(makePlan([{name: 'diff', gate: 'canary', tasks: 3}]))
    const rec = new Recorder()
    rec.delayMs = 20
    expect((await fx.runner(rec.runtime(), {autoApprove: true}).run()).state).toBe('done')
    const first = rec.started('diff/t0')[0]!
    for (const t of ['diff/t1', 'diff/t2']) expect(rec.started(t)[0]!.start).toBeGreaterThanOrEqual(first.end!)
    expect((await fx.read()).approvals.map((a) => `${a.gate} ${a.via}`)).toEqual([
      'diff:first auto-approve',
      'diff:rest auto-approve',
    ])
  })

  it('asks on a TTY; approvals survive a restart and are not asked again; "no" leaves the workflow waiting', async () => {
    fx = await fixture(
      makePlan([
        {name: 'wait_for_filtered_replication', gate: 'canary', tasks: 2},
        {name: 'migrate_primary', gate: 'canary', tasks: 1},
      ]),
    )
    const asked: string[] = []
    const rec = new Recorder()
    const ctl = new AbortController()
    rec.on('wait_for_filtered_replication/t0', async (ctx) => {
      if (ctx.attempt === 1) {
        ctl.abort(new Error('interrupted (SIGINT)')) // the operator presses Ctrl-C while the canary runs
        return untilAborted(ctx.signal)
      }
    })
    const yes = async (st: GateStage) => {
      asked.push(st.gate)
      return true
    }
    let out = await fx.runner(rec.runtime(), {ui: {askGate: yes}, signal: ctl.signal}).run()
    expect(out.state).toBe('interrupted')
    expect(asked).toEqual(['wait_for_filtered_replication:first'])
    // Restarted: the first task is approved already, so only the rest and the next phase are asked.
    await fx.reload()
    out = await fx.runner(rec.runtime(), {ui: {askGate: yes}}).run()
    expect(out.state).toBe('done')
    expect(asked).toEqual([
      'wait_for_filtered_replication:first',
      'wait_for_filtered_replication:rest',
      'migrate_primary:first',
    ])
    const wf = await fx.read()
    expect(wf.approvals.every((a) => a.via === 'tty' && a.by === 'tester@host')).toBe(true)
    expect(rec.started('wait_for_filtered_replication/t0').map((c) => [c.attempt, c.resuming])).toEqual([
      [1, false],
      [2, true],
    ])

    await fx.close()
    fx = await fixture(makePlan([{name: 'migrate_primary', gate: 'canary', tasks: 1}]))
    out = await fx.runner(rec.runtime(), {ui: {askGate: async () => false}}).run()
    expect(out.state).toBe('waiting')
    expect((await fx.read()).state).toBe('waiting')
  })

  it('a question open on the TTY is withdrawn when the gate is approved from elsewhere', async () => {
    fx = await fixture(makePlan([{name: 'clone', gate: 'canary', tasks: 1}]))
    const rec = new Recorder()
    let asked = 0
    let withdrawn = false
    const askGate = (_st: GateStage, signal: AbortSignal) => {
      asked++
      return new Promise<boolean>((_, reject) =>
        signal.addEventListener('abort', () => {
          withdrawn = true
          reject(new Error('withdrawn'))
        }),
      )
    }
    const run = fx.runner(rec.runtime(), {ui: {askGate}}).run()
    await until(() => asked === 1, 5000, 'the question')
    await approveWorkflow(await FileTopoStore.open(fx.dir), 'ks', {who: 'ci@runner'})
    expect((await run).state).toBe('done')
    expect(withdrawn).toBe(true)
    expect((await fx.read()).approvals.map((a) => a.via)).toEqual(['approve'])
  })

  it('a waiting apply sees an approval written by another process at once (watch)', async () => {
    fx = await fixture(makePlan([{name: 'clone', gate: 'canary', tasks: 1}]))
    const rec = new Recorder()
    const events: RunnerEvent[] = []
    const run = fx.runner(rec.runtime(), {ui: {emit: (e) => events.push(e)}}).run()
    await until(async () => (await fx!.read()).state === 'waiting', 5000, 'the workflow to wait')
    // Another process: its own store handle and writer.
    const other = await FileTopoStore.open(fx.dir)
    await approveWorkflow(other, 'ks', {who: 'ci@runner'})
    // The runner waits on record changes only (no timer re-reads it): finishing at all means its watch saw the write.
    const out = await run
    expect(out.state).toBe('done')
    expect(events.some((e) => e.kind === 'event' && e.event.type === 'approved' && e.event.who === 'ci@runner')).toBe(
      true,
    )
    await other.close()
  })
})

describe('retry, resume, interruption', () => {
  it('retry continues from the failure point; attempts are counted', async () => {
    fx = await fixture(
      makePlan([
        {name: 'create_shards', tasks: 1},
        {name: 'diff', tasks: 2},
        {name: 'migrate_primary', tasks: 1},
      ]),
    )
    const rec = new Recorder()
    rec.on('diff/t1', async (ctx) => {
      if (ctx.attempt < 3) throw new Error(`rows differ (try ${ctx.attempt})`)
    })
    expect((await fx.runner(rec.runtime()).run()).state).toBe('failed')
    for (let i = 0; i < 2; i++) {
      await fx.writer.mutate((wf) => {
        resetForRetry(wf, 'diff/t1', 'ops@host')
      })
      const out = await fx.runner(rec.runtime()).run()
      expect(out.state).toBe(i === 0 ? 'failed' : 'done')
    }
    expect(rec.started('create_shards/t0')).toHaveLength(1)
    expect(rec.started('diff/t0')).toHaveLength(1)
    expect(rec.started('diff/t1').map((c) => [c.attempt, c.resuming])).toEqual([
      [1, false],
      [2, true],
      [3, true],
    ])
    expect(rec.started('migrate_primary/t0')).toHaveLength(1)
    const wf = await fx.read()
    expect(wf.tasks['diff/t1']).toMatchObject({state: 'done', attempts: 3})
    expect(wf.tasks['diff/t1']!.runs!.map((r) => r.result)).toEqual(['failed', 'failed', 'done'])
    expect(wf.events.filter((e) => e.type === 'retry')).toHaveLength(2)
    // Retrying a task that did not fail is refused.
    await expect(fx.writer.mutate((x) => void resetForRetry(x, 'diff/t0', 'ops'))).rejects.toThrow(
      /is done, not failed/,
    )
  })

  it('tasks a killed apply left running resume with resuming = true and the next attempt', async () => {
    fx = await fixture(makePlan([{name: 'clone', tasks: 2}]))
    // What a kill -9 leaves behind: clone/t0 running (attempt 1), clone/t1 done.
    await fx.writer.mutate((wf) => {
      wf.tasks['clone/t0'] = {
        ...wf.tasks['clone/t0']!,
        state: 'running',
        attempts: 1,
        runs: [{attempt: 1, startedAt: new Date().toISOString(), by: 'dead@host pid 1'}],
      }
      wf.tasks['clone/t1'] = {...wf.tasks['clone/t1']!, state: 'done', attempts: 1}
    })
    await fx.reload()
    const rec = new Recorder()
    expect((await fx.runner(rec.runtime()).run()).state).toBe('done')
    expect(rec.calls.map((c) => [c.task, c.attempt, c.resuming])).toEqual([['clone/t0', 2, true]])
    const wf = await fx.read()
    expect(wf.tasks['clone/t0']!.runs!.map((r) => r.result)).toEqual(['interrupted', 'done'])
    expect(wf.events.some((e) => e.type === 'task_interrupted' && e.task === 'clone/t0')).toBe(true)
  })

  it('Ctrl-C: running executors get the signal, are recorded interrupted, and the workflow is paused', async () => {
    fx = await fixture(
      makePlan([
        {name: 'clone', tasks: 2},
        {name: 'diff', tasks: 1},
      ]),
    )
    const rec = new Recorder()
    const ctl = new AbortController()
    for (const t of ['clone/t0', 'clone/t1']) rec.on(t, (ctx) => untilAborted(ctx.signal))
    const run = fx.runner(rec.runtime(), {signal: ctl.signal}).run()
    await until(() => rec.current === 2, 5000, 'both tasks to run')
    ctl.abort(new Error('interrupted (SIGINT)'))
    const out = await run
    expect(out.state).toBe('interrupted')
    const wf = await fx.read()
    expect(wf.state).toBe('paused')
    expect(taskStates(wf)).toEqual({'clone/t0': 'pending', 'clone/t1': 'pending', 'diff/t0': 'pending'})
    expect(wf.tasks['clone/t0']!.runs!.at(-1)!.result).toBe('interrupted')
    expect(wf.events.filter((e) => e.type === 'task_interrupted')).toHaveLength(2)
    expect(wf.events.at(-1)).toMatchObject({type: 'stopped'})
    expect(rec.calls.some((c) => c.task === 'diff/t0')).toBe(false)
  })
})

describe('records', () => {
  it("commits executor ops in one transaction with the task's done; conflicting ops fail the task and write nothing", async () => {
    fx = await fixture(makePlan([{name: 'create_shards', tasks: 2}]))
    await fx.store.create('test/taken', {by: 'someone else'})
    const rec = new Recorder()
    rec.on('create_shards/t0', async () => ({
      ops: [{op: 'put', path: 'test/a', value: {n: 1}, version: null}],
      output: {position: 'gtid-1-2-3'},
    }))
    rec.on('create_shards/t1', async () => ({
      ops: [
        {op: 'put', path: 'test/c', value: {n: 3}, version: null},
        {op: 'put', path: 'test/taken', value: {n: 2}, version: null},
      ],
    }))
    const out = await fx.runner(rec.runtime()).run()
    expect(out.state).toBe('failed')
    expect((await fx.store.get('test/a'))?.value).toEqual({n: 1})
    expect(await fx.store.get('test/c')).toBeUndefined()
    expect((await fx.store.get('test/taken'))?.value).toEqual({by: 'someone else'})
    const wf = await fx.read()
    expect(wf.tasks['create_shards/t0']).toMatchObject({state: 'done', output: {position: 'gtid-1-2-3'}})
    expect(wf.tasks['create_shards/t1']!.state).toBe('failed')
    expect(wf.tasks['create_shards/t1']!.error).toMatch(/conflict with records changed meanwhile.*test\/taken/)
  })

  it('checkpoints survive a restart; outputs of earlier tasks are visible to later ones', async () => {
    fx = await fixture(
      makePlan([
        {name: 'clone', tasks: 1},
        {name: 'wait_for_filtered_replication', tasks: 1},
      ]),
    )
    const rec = new Recorder()
    const ctl = new AbortController()
    const seen: unknown[] = []
    rec.on('clone/t0', async (ctx) => {
      const cp = ctx.checkpoint<{rows: number}>()
      seen.push(cp)
      if (!cp) {
        await ctx.saveCheckpoint({rows: 500})
        ctl.abort(new Error('interrupted (SIGTERM)'))
        return untilAborted(ctx.signal)
      }
      return {output: {start: 'mysql-bin.000001:4', rows: cp.rows + 500}}
    })
    rec.on('wait_for_filtered_replication/t0', async (ctx) => {
      seen.push(ctx.output('clone/t0'))
    })
    expect((await fx.runner(rec.runtime(), {signal: ctl.signal}).run()).state).toBe('interrupted')
    expect((await fx.read()).tasks['clone/t0']!.checkpoint).toEqual({rows: 500})
    await fx.reload()
    expect((await fx.runner(rec.runtime()).run()).state).toBe('done')
    expect(seen).toEqual([undefined, {rows: 500}, {start: 'mysql-bin.000001:4', rows: 1000}])
  })

  it('progress is throttled, rendered live, and the last figures are kept', async () => {
    fx = await fixture(makePlan([{name: 'clone', tasks: 1}]))
    const rec = new Recorder()
    rec.on('clone/t0', async (ctx) => {
      for (let i = 1; i <= 100; i++) {
        ctx.progress({done: i * 1000, total: 100_000, unit: 'rows', rate: 50_000})
        await sleep(2)
      }
      ctx.log('copied 100000 rows')
    })
    const progress: RunnerEvent[] = []
    const before = (await fx.store.get(`workflows/${fx.wf.id}/Workflow`))!.version
    let writes = 0
    fx.writer.onChange(() => writes++)
    await fx
      .runner(rec.runtime(), {progressIntervalMs: 1000, ui: {emit: (e) => e.kind === 'progress' && progress.push(e)}})
      .run()
    expect(before).toBeTruthy()
    expect(progress).toHaveLength(100)
    // start, ≤ 1 progress write per second (the run takes well under 2 s), log, done, phase, workflow
    expect(writes).toBeLessThanOrEqual(9)
    const wf = await fx.read()
    expect(wf.tasks['clone/t0']!.progress).toMatchObject({done: 100_000, total: 100_000, unit: 'rows'})
    expect(wf.events.some((e) => e.type === 'log' && e.message === 'copied 100000 rows')).toBe(true)
  })

  it('spaces progress writes by ten times what a write of the record costs (a record holding a huge plan)', async () => {
    fx = await fixture(makePlan([{name: 'clone', tasks: 1}]))
    // Every write of the record takes 60 ms, as a 2048 → 4096 split's 30 MiB record takes most of a second.
    const s = fx.store as unknown as {update: (...a: unknown[]) => Promise<string>}
    const update = s.update.bind(fx.store)
    s.update = async (...a: unknown[]) => {
      await sleep(60)
      return update(...a)
    }
    const rec = new Recorder()
    rec.on('clone/t0', async (ctx) => {
      const end = Date.now() + 1_500
      for (let i = 1; Date.now() < end; i++) {
        ctx.progress({done: i, unit: 'rows'})
        await sleep(5)
      }
    })
    let progressWrites = 0
    let last: unknown
    fx.writer.onChange((wf) => {
      const p = wf.tasks['clone/t0']?.progress
      if (p && p !== last && wf.tasks['clone/t0']?.state === 'running') progressWrites++
      last = p
    })
    await fx.runner(rec.runtime(), {progressIntervalMs: 20}).run()
    // Every 20 ms would be one write after another (~20 in 1.5 s); ≥ 600 ms apart, at most 3.
    expect(progressWrites).toBeGreaterThan(0)
    expect(progressWrites).toBeLessThanOrEqual(3)
    expect(fx.writer.writeCostMs).toBeGreaterThanOrEqual(60)
  })

  it('never drops a concurrent change made by another writer (CAS, re-applied)', async () => {
    fx = await fixture(makePlan([{name: 'clone', tasks: 4}]))
    const rec = new Recorder()
    for (let i = 0; i < 4; i++) {
      rec.on(`clone/t${i}`, async (ctx) => {
        for (let k = 0; k < 10; k++) await ctx.saveCheckpoint({k})
      })
    }
    const other = await WorkflowWriter.load(fx.store, fx.wf.id)
    const run = fx.runner(rec.runtime()).run()
    const theirs = (async () => {
      for (let i = 0; i < 15; i++)
        await other.mutate((wf) => addEvent(wf, {who: 'other@host', type: 'log', message: `note ${i}`}))
    })()
    await Promise.all([run, theirs])
    const wf = await fx.read()
    expect(wf.state).toBe('done')
    expect(wf.events.filter((e) => e.who === 'other@host').map((e) => e.message)).toEqual(
      Array.from({length: 15}, (_, i) => `note ${i}`),
    )
    expect(Object.values(wf.tasks).every((t) => (t.checkpoint as {k: number}).k === 9)).toBe(true)
  })
})

describe('an unreachable topology', () => {
  async function flakyFixture() {
    const dir = await mkdtemp(join(tmpdir(), 'shardform-engine-'))
    const inner = await FileTopoStore.open(dir, {pollMs: 20})
    const store = new FlakyStore(inner)
    const wf = newWorkflowRecord(
      makePlan([
        {name: 'clone', tasks: 2},
        {name: 'diff', tasks: 1},
      ]),
      {kind: 'layout', file: 't.yaml'},
      'tester@host',
    )
    return {
      dir,
      inner,
      store,
      wf,
      cleanup: async () => (await inner.close(), await rm(dir, {recursive: true, force: true})),
    }
  }

  it('is retried with backoff; the workflow continues when it comes back', async () => {
    const f = await flakyFixture()
    try {
      const writer = await WorkflowWriter.create(f.store, f.wf, {unavailableTimeoutMs: 10_000})
      const rec = new Recorder()
      rec.on('clone/t0', async (ctx) => {
        f.store.down = true
        setTimeout(() => (f.store.down = false), 400)
        await ctx.saveCheckpoint({during: 'outage'})
      })
      const out = await new Runner({writer, runtime: rec.runtime(), who: 'tester@host'}).run()
      expect(out.state).toBe('done')
      const wf = (await f.inner.get<WorkflowRecord>(`workflows/${f.wf.id}/Workflow`))!.value
      expect(wf.tasks['clone/t0']!.checkpoint).toEqual({during: 'outage'})
      expect(wf.state).toBe('done')
    } finally {
      await f.cleanup()
    }
  })

  it('stops cleanly after the timeout, leaving the task resumable', async () => {
    const f = await flakyFixture()
    try {
      const writer = await WorkflowWriter.create(f.store, f.wf, {unavailableTimeoutMs: 300})
      const rec = new Recorder()
      rec.on('clone/t0', async (ctx) => {
        f.store.down = true
        await ctx.saveCheckpoint({x: 1})
      })
      await expect(new Runner({writer, runtime: rec.runtime(), who: 'tester@host'}).run()).rejects.toMatchObject({
        code: WRITER_UNAVAILABLE,
      })
      f.store.down = false
      const wf = (await f.inner.get<WorkflowRecord>(`workflows/${f.wf.id}/Workflow`))!.value
      expect(wf.tasks['clone/t0']!.state).toBe('running') // resumes (resuming = true) on the next apply
      expect(wf.state).not.toBe('failed')
    } finally {
      await f.cleanup()
    }
  })
})

describe('approve()', () => {
  it('refuses a phase that is not current, and a stage already approved', () => {
    const wf = newWorkflowRecord(
      makePlan([
        {name: 'clone', gate: 'canary', tasks: 2},
        {name: 'diff', gate: 'canary', tasks: 2},
      ]),
      {kind: 'layout', file: 'x'},
      'me',
    )
    expect(() => approve(wf, {phase: 'diff', by: 'me', via: 'approve'})).toThrow(
      /has not started yet \(the current phase is clone\)/,
    )
    expect(() => approve(wf, {phase: 'nope', by: 'me', via: 'approve'})).toThrow(/has no phase "nope"/)
    approve(wf, {stage: 'first', by: 'me', via: 'approve'})
    expect(() => approve(wf, {stage: 'first', by: 'me', via: 'approve'})).toThrow(/already approved/)
    expect(() => approve(wf, {by: 'me', via: 'approve'})).toThrow(/nothing in workflow .* is waiting for approval/)
    const {stage} = approve(wf, {stage: 'all', by: 'me', via: 'approve'})
    expect(stage).toMatchObject({gate: 'clone:all', tasks: ['clone/t1']})
  })
})
