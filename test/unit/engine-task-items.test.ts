// Clone and diff tasks as work items (file-backed topology, executors of our own): the driver's hand-out resolves with
// the claimant's result; a claimant that lost the task to another (its claim ended, the task was handed out again)
// has its checkpoint refused and records nothing; a claimant that vanishes without a result makes the driver hand the
// task out again.
import {afterEach, describe, expect, it} from 'vitest'
import {runClaimedTask, STALE_TASK_ITEM} from '../../src/engine/claimed-task.js'
import {
  cohortHolders,
  parseTaskItemPath,
  taskClaimPath,
  taskClaims,
  taskItemPath,
  taskResultPath,
  type TaskItem,
} from '../../src/engine/task-items.js'
import type {Executor, TaskContext} from '../../src/engine/types.js'
import {isErrorCode} from '../../src/errors.js'
import {handOutTask} from '../../src/phases/tasks/hand-out.js'
import {cohortClaim} from '../../src/server/task-items.js'
import {fixture, makePlan, until, type Fixture} from '../helpers/engine.js'

let fx: Fixture | undefined
afterEach(async () => {
  await fx?.close()
  fx = undefined
})

const TASK = 'clone/t0'

/** A fixture whose first clone task runs attempt 1 (as the driver's runner leaves it before handing it out). */
async function running(): Promise<Fixture> {
  const f = await fixture(makePlan([{name: 'clone', tasks: 1}]))
  await f.writer.mutate((wf) => {
    Object.assign(wf.tasks[TASK]!, {state: 'running', attempts: 1})
  })
  return f
}

function driverCtx(f: Fixture, logs: string[], signal = new AbortController().signal): TaskContext {
  const phase = f.wf.plan.phases[0]!
  return {
    store: f.store,
    keyspace: f.wf.keyspace,
    workflowId: f.wf.id,
    plan: f.wf.plan,
    phase,
    task: phase.tasks[0]!,
    attempt: 1,
    resuming: false,
    checkpoint: () => undefined,
    saveCheckpoint: async () => undefined,
    progress: () => undefined,
    log: (m) => logs.push(m),
    output: () => undefined,
    signal,
    services: undefined,
  }
}

function claimed(f: Fixture, item: TaskItem, runner: string, exec: Executor, signal = new AbortController().signal) {
  return runClaimedTask({store: f.store, item, runner, server: runner, who: runner, exec, services: undefined, signal})
}

async function itemOf(f: Fixture, handout: number): Promise<TaskItem> {
  return until(async () => {
    const e = await f.store.get<TaskItem>(taskItemPath(f.wf.id, TASK))
    return e?.value.handout === handout ? e.value : undefined
  })
}

describe('task item records', () => {
  it('task ids with slashes survive the path; only live claims count', () => {
    const path = taskClaimPath('wf1', 'diff/-80')
    expect(parseTaskItemPath(path)).toEqual({workflow: 'wf1', task: 'diff/-80', kind: 'Claim'})
    expect(parseTaskItemPath('workflows/wf1/items/0->-80/Claim')).toBeUndefined()
    const claims = taskClaims([
      {path, value: {server: 's1', expires: Date.now() + 10_000}},
      {path: taskClaimPath('wf1', 'diff/80-'), value: {server: 's2', expires: Date.now() - 1}},
    ])
    expect([...claims.keys()]).toEqual(['wf1/diff/-80'])
  })
})

describe('handing a task out', () => {
  it("resolves with the claimant's result; its checkpoint and progress are in the record under its name", async () => {
    fx = await running()
    const f = fx
    const logs: string[] = []
    const out = handOutTask(driverCtx(f, logs))
    const item = await itemOf(f, 1)
    const claim = await f.store.hold(taskClaimPath(f.wf.id, TASK), {operation: 't', ttlSeconds: 5, data: {server: 'a'}})
    const res = await claimed(f, item, 'a', async (ctx) => {
      await ctx.saveCheckpoint({tables: 3})
      ctx.log('copied')
      return {output: {rows: 7}}
    })
    expect(res).toMatchObject({ok: true, output: {rows: 7}, attempt: 1, handout: 1})
    await f.store.create(taskResultPath(f.wf.id, TASK), res)
    await claim.release()
    expect(await out).toMatchObject({ok: true, output: {rows: 7}})
    const wf = await f.read()
    expect(wf.tasks[TASK]).toMatchObject({runner: 'a', checkpoint: {tables: 3}})
    expect(wf.events.filter((e) => e.task === TASK).map((e) => e.message)).toEqual(['runs on server a', 'copied'])
    // The driver cleans up after itself.
    expect(await f.store.get(taskItemPath(f.wf.id, TASK))).toBeUndefined()
  })

  it('a claimant that lost the task to another has its checkpoint refused and reports nothing', async () => {
    fx = await running()
    const f = fx
    const item: TaskItem = {
      ...{workflow: f.wf.id, keyspace: 'ks', task: TASK, phase: 'clone'},
      attempt: 1,
      handout: 1,
      updatedAt: '',
    }
    let go!: () => void
    const barrier = new Promise<void>((r) => (go = r))
    let started!: () => void
    const inside = new Promise<void>((r) => (started = r))
    const a = claimed(f, item, 'a', async (ctx) => {
      await ctx.saveCheckpoint({from: 'a', n: 1})
      started()
      await barrier
      await ctx.saveCheckpoint({from: 'a', n: 2})
      return {output: {by: 'a'}}
    })
    await inside
    // Handed out again (a's claim ended while it was paused): b becomes the runner.
    const b = await claimed(f, {...item, handout: 2}, 'b', async (ctx) => {
      expect(ctx.checkpoint()).toEqual({from: 'a', n: 1})
      await ctx.saveCheckpoint({from: 'b'})
      return {output: {by: 'b'}}
    })
    go()
    const err = await a.catch((e: unknown) => e)
    expect(isErrorCode(err, STALE_TASK_ITEM), String(err)).toBe(true)
    expect(b).toMatchObject({ok: true, output: {by: 'b'}, handout: 2})
    expect((await f.read()).tasks[TASK]).toMatchObject({runner: 'b', checkpoint: {from: 'b'}})
  })

  it('a claimant that vanishes without a result: the driver hands the task out again', async () => {
    fx = await running()
    const f = fx
    const logs: string[] = []
    const stop = new AbortController()
    let seen!: (server: string) => void
    const claimSeen = new Promise<string>((r) => (seen = r))
    const out = handOutTask(driverCtx(f, logs, stop.signal), {claimed: seen}).catch((e: unknown) => e)
    await itemOf(f, 1)
    const claim = await f.store.hold(taskClaimPath(f.wf.id, TASK), {operation: 't', ttlSeconds: 5, data: {server: 'a'}})
    expect(await claimSeen).toBe('a')
    await claim.release()
    const again = await itemOf(f, 2)
    expect(again.attempt).toBe(1)
    expect(logs.join('\n')).toMatch(/server a stopped running it without a result .*handing it out again/)
    stop.abort(new Error('test over'))
    expect(String(await out)).toMatch(/test over/)
    // Stopping takes the item back: a server still running it sees it gone.
    expect(await f.store.get(taskItemPath(f.wf.id, TASK))).toBeUndefined()
  })
})

describe('cohorts of handed-out tasks', () => {
  it('the item carries the cohort, and the claimant runs the task with it', async () => {
    fx = await running()
    const f = fx
    const cohort = {id: 'c1', tasks: [TASK, 'clone/t1']}
    const out = handOutTask({...driverCtx(f, []), cohort})
    const item = await itemOf(f, 1)
    expect(item.cohort).toEqual(cohort)
    const claim = await f.store.hold(taskClaimPath(f.wf.id, TASK), {operation: 't', ttlSeconds: 5, data: {server: 'a'}})
    const res = await claimed(f, item, 'a', async (ctx) => ({output: {cohort: ctx.cohort?.tasks}}))
    await f.store.create(taskResultPath(f.wf.id, TASK), res)
    await claim.release()
    expect(await out).toMatchObject({ok: true, output: {cohort: cohort.tasks}})
  })

  it('a server takes the siblings of a cohort it runs, and leaves those of a cohort another server runs', () => {
    const item = (task: string, cohort?: {id: string; tasks: string[]}): TaskItem => ({
      ...{workflow: 'w', keyspace: 'ks', task, phase: 'diff', attempt: 1, handout: 1, updatedAt: ''},
      ...(cohort ? {cohort} : {}),
    })
    const c = {id: 'c1', tasks: ['diff/a', 'diff/b', 'diff/c']}
    const claim = (server: string, cohort?: string) => ({
      ...{id: 'x', who: server, operation: 't', created: ''},
      server,
      ...(cohort ? {cohort} : {}),
    })
    const none = new Map()
    expect(cohortClaim(item('diff/b', c), 's1', [item('diff/a', c)], none)).toBe('bundle')
    expect(cohortClaim(item('diff/b', c), 's1', [], new Map([['w/diff/a', claim('s2', 'c1')]]))).toBe('elsewhere')
    // A claim of an older cohort (a run before a restart) binds nothing; nor does our own.
    expect(cohortClaim(item('diff/b', c), 's1', [], new Map([['w/diff/a', claim('s2', 'c0')]]))).toBe('fair')
    expect(cohortClaim(item('diff/b', c), 's1', [], new Map([['w/diff/a', claim('s1', 'c1')]]))).toBe('fair')
    // Another workflow's task of a cohort with the same id is no sibling; a cohort of one is just fair share.
    expect(cohortClaim(item('diff/b', c), 's1', [{...item('diff/a', c), workflow: 'v'}], none)).toBe('fair')
    expect(cohortClaim(item('diff/a', {id: 'c2', tasks: ['diff/a']}), 's1', [], none)).toBe('fair')
    expect(cohortClaim(item('diff/a'), 's1', [], none)).toBe('fair')
    // The cohort's own claim decides before any sibling runs: two servers that list at the same moment cannot split it.
    const holders = cohortHolders([
      {path: 'workflows/w/cohorts/c1/Claim', value: claim('s2')},
      {path: 'workflows/w/cohorts/c9/Claim', value: {...claim('s3'), expires: Date.now() - 1}},
    ])
    expect([...holders]).toEqual([['w/c1', 's2']])
    expect(cohortClaim(item('diff/a', c), 's1', [], none, holders)).toBe('elsewhere')
    expect(cohortClaim(item('diff/a', c), 's2', [], none, holders)).toBe('bundle')
    expect(cohortClaim(item('diff/a', {...c, id: 'c9'}), 's1', [], none, holders)).toBe('fair')
  })
})
