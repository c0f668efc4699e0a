// Cohorts (engine/cohorts.ts): which startable tasks start together, and how they count against a phase's limit.
import {describe, expect, it} from 'vitest'
import {startNow, type Cohort} from '../../src/engine/cohorts.js'
import type {PlanTask} from '../../src/plan/types.js'
import {fixture, makePlan, Recorder} from '../helpers/engine.js'

const task = (id: string, group?: number): PlanTask => ({
  id,
  shard: id,
  detail: id,
  ...(group === undefined ? {} : {group}),
})
let n = 0
const ids = () => `c${n++}`

describe('startNow', () => {
  it('starts every ready diff task of a group together as one cohort, counted once against the limit', () => {
    const ready = [task('diff/a', 0), task('diff/b', 0), task('diff/c', 1), task('diff/d', 1), task('diff/e', 2)]
    const out = startNow({name: 'diff'}, ready, new Map(), 2, ids)
    expect(out.map((o) => o.task.id)).toEqual(['diff/a', 'diff/b', 'diff/c', 'diff/d'])
    expect(out[0].cohort).toBe(out[1].cohort)
    expect(out[0].cohort.tasks).toEqual(['diff/a', 'diff/b'])
    expect(out[2].cohort.tasks).toEqual(['diff/c', 'diff/d'])
    expect(out[0].cohort.id).not.toBe(out[2].cohort.id)
  })

  it('counts running cohorts, not running tasks, in the diff phase', () => {
    const c: Cohort = {id: 'x', tasks: ['diff/a', 'diff/b', 'diff/c']}
    const running = new Map([
      ['diff/a', c],
      ['diff/b', c],
      ['diff/c', c],
    ])
    const ready = [task('diff/d', 1), task('diff/e', 2)]
    expect(startNow({name: 'diff'}, ready, running, 2, ids).map((o) => o.task.id)).toEqual(['diff/d'])
    expect(startNow({name: 'diff'}, ready, running, 1, ids)).toEqual([])
  })

  it('keeps tasks outside a group in cohorts of their own', () => {
    const out = startNow({name: 'diff'}, [task('diff/a'), task('diff/b'), task('diff/c')], new Map(), 2, ids)
    expect(out.map((o) => o.cohort.tasks)).toEqual([['diff/a'], ['diff/b']])
  })

  it('bounds other phases by tasks, and still names the group siblings started together', () => {
    const ready = [task('clone/a', 0), task('clone/b', 0), task('clone/c', 0)]
    const out = startNow({name: 'clone'}, ready, new Map([['clone/z', undefined]]), 3, ids)
    expect(out.map((o) => o.task.id)).toEqual(['clone/a', 'clone/b'])
    expect(out[0].cohort.tasks).toEqual(['clone/a', 'clone/b'])
  })
})

describe('the runner gives each task its cohort', () => {
  it('starts the diff tasks of a group together even above diffParallelism, one cohort per group', async () => {
    const plan = makePlan([{name: 'diff', tasks: 5}], 'ks', {diffParallelism: 1})
    // Tasks t0..t2 in group 0, t3..t4 in group 1.
    plan.phases[0].tasks.forEach((t, i) => (t.group = i < 3 ? 0 : 1))
    const fx = await fixture(plan)
    try {
      const rec = new Recorder()
      const seen = new Map<string, Cohort | undefined>()
      let release: () => void = () => undefined
      const gate = new Promise<void>((r) => (release = r))
      for (let i = 0; i < 5; i++) {
        rec.on(`diff/t${i}`, async (ctx, r) => {
          seen.set(ctx.task.id, ctx.cohort)
          if (r.current === 3) release()
          if (i < 3) await gate
        })
      }
      expect((await fx.runner(rec.runtime(), {parallelism: 10}).run()).state).toBe('done')
      expect(seen.get('diff/t0')?.tasks).toEqual(['diff/t0', 'diff/t1', 'diff/t2'])
      expect(seen.get('diff/t1')?.id).toBe(seen.get('diff/t0')?.id)
      expect(seen.get('diff/t3')?.tasks).toEqual(['diff/t3', 'diff/t4'])
      // diffParallelism 1: group 1's cohort starts only after group 0's has ended.
      const end0 = Math.max(...['diff/t0', 'diff/t1', 'diff/t2'].map((id) => rec.started(id)[0].end!))
      expect(rec.started('diff/t3')[0].start).toBeGreaterThanOrEqual(end0)
      expect(rec.maxConcurrent).toBe(3)
    } finally {
      await fx.close()
    }
  })
})
