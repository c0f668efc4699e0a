// What the HTTP API's approve and retry do to a workflow record (file-backed topology): a retry is recorded under the
// keyspace lock and runs nothing; a held lock refuses it with nothing written; approvals name the API and its caller.
import {afterEach, describe, expect, it} from 'vitest'
import {approveWorkflow, recordRetry} from '../../src/engine/commands.js'
import {isErrorCode} from '../../src/errors.js'
import {fixture, makePlan, type Fixture} from '../helpers/engine.js'

let fx: Fixture | undefined
afterEach(async () => {
  await fx?.close()
  fx = undefined
})

async function failedDiff(): Promise<Fixture> {
  const f = await fixture(makePlan([{name: 'diff', tasks: 2, gate: 'phase'}]))
  await f.writer.mutate((wf) => {
    wf.state = 'failed'
    for (const t of Object.values(wf.tasks)) Object.assign(t, {state: 'failed', attempts: 1, error: 'differs'})
  })
  return f
}

describe('recordRetry', () => {
  it('puts the named failed task back to pending, the workflow to paused, as the caller; the lock is free after', async () => {
    fx = await failedDiff()
    const r = await recordRetry(fx.store, fx.wf.id, {taskId: 'diff/t1', who: 'alice'})
    expect(r.tasks).toEqual(['diff/t1'])
    const wf = await fx.read()
    expect(wf.state).toBe('paused')
    expect(wf.tasks['diff/t1']).toMatchObject({state: 'pending', attempts: 1})
    expect(wf.tasks['diff/t1']!.error).toBeUndefined()
    expect(wf.tasks['diff/t0']!.state).toBe('failed')
    expect(wf.events.at(-1)).toMatchObject({type: 'retry', who: 'alice', task: 'diff/t1'})
    expect(await fx.store.readLock('ks')).toBeUndefined()
  })

  it('without a task: every failed task', async () => {
    fx = await failedDiff()
    const r = await recordRetry(fx.store, fx.wf.id, {who: 'alice'})
    expect(r.tasks.sort()).toEqual(['diff/t0', 'diff/t1'])
    expect(Object.values((await fx.read()).tasks).map((t) => t.state)).toEqual(['pending', 'pending'])
  })

  it('refuses while a run holds the keyspace lock, writing nothing', async () => {
    fx = await failedDiff()
    const lock = await fx.store.lock('ks', {operation: 'a server runs it', timeoutMs: 0})
    const before = await fx.read()
    const err = await recordRetry(fx.store, fx.wf.id, {taskId: 'diff/t0'}).catch((e: unknown) => e)
    expect(isErrorCode(err, 'engine.lock_held'), String(err)).toBe(true)
    expect(await fx.read()).toEqual(before)
    await lock.release()
  })

  it('refuses a task that did not fail and a workflow with no failure', async () => {
    fx = await failedDiff()
    await recordRetry(fx.store, fx.wf.id, {})
    await expect(recordRetry(fx.store, fx.wf.id, {taskId: 'diff/t0'})).rejects.toThrow(/is pending, not failed/)
    await expect(recordRetry(fx.store, fx.wf.id, {})).rejects.toThrow(/no task of workflow .* has failed/)
    expect(await fx.store.readLock('ks')).toBeUndefined()
  })
})

describe('approveWorkflow from the API', () => {
  it('records via api and the caller; refuses a workflow that is not the keyspace’s unfinished one', async () => {
    fx = await fixture(makePlan([{name: 'diff', tasks: 2, gate: 'phase'}]))
    await expect(approveWorkflow(fx.store, 'ks', {workflowId: 'ks-other', who: 'alice', via: 'api'})).rejects.toThrow(
      /is not the unfinished workflow of keyspace ks/,
    )
    expect((await fx.read()).approvals).toEqual([])
    const {approval} = await approveWorkflow(fx.store, 'ks', {workflowId: fx.wf.id, who: 'alice', via: 'api'})
    expect(approval).toMatchObject({gate: 'diff:all', by: 'alice', via: 'api'})
    expect((await fx.read()).events.at(-1)).toMatchObject({type: 'approved', who: 'alice'})
  })
})
