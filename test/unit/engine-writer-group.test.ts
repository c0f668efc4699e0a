// The workflow writer's group commit: mutations made while a write is queued or in flight are written together, in the
// order they were made; one that throws is refused alone; a mutation with topology ops is never overtaken.
import {afterEach, describe, expect, it} from 'vitest'
import {SKIP} from '../../src/engine/writer.js'
import {addEvent} from '../../src/engine/workflow.js'
import type {TopoStore} from '../../src/topo/store.js'
import {fixture, makePlan, type Fixture} from '../helpers/engine.js'

let fx: Fixture | undefined
afterEach(async () => {
  await fx?.close()
  fx = undefined
})

/** Counts the store's writes of any kind from now on. */
function countWrites(store: TopoStore): {n: number} {
  const count = {n: 0}
  const s = store as unknown as Record<'update' | 'commit', (...a: unknown[]) => Promise<unknown>>
  for (const k of ['update', 'commit'] as const) {
    const orig = s[k].bind(store)
    s[k] = (...a: unknown[]) => {
      count.n++
      return orig(...a)
    }
  }
  return count
}

const log = (message: string) => (wf: Parameters<typeof addEvent>[0]) => addEvent(wf, {who: 't', type: 'log', message})
const messages = async (f: Fixture) => (await f.read()).events.filter((e) => e.type === 'log').map((e) => e.message)

describe('WorkflowWriter group commit', () => {
  it('eight mutations made at once are written in two writes at most, every one applied in order', async () => {
    fx = await fixture(makePlan([{name: 'diff', tasks: 8}]))
    const writes = countWrites(fx.store)
    const done = Array.from({length: 8}, (_, i) => fx!.writer.mutate(log(`m${i}`)))
    const results = await Promise.all(done)
    expect(writes.n).toBeLessThanOrEqual(2)
    expect(await messages(fx)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'])
    // Each caller gets a record holding its own change.
    results.forEach((wf, i) => expect(wf.events.some((e) => e.message === `m${i}`)).toBe(true))
  })

  it('a mutation that throws is refused alone; the rest of its group is written', async () => {
    fx = await fixture(makePlan([{name: 'diff', tasks: 1}]))
    const a = fx.writer.mutate(log('a'))
    const bad = fx.writer.mutate((wf) => {
      addEvent(wf, {who: 't', type: 'log', message: 'half-made'})
      throw new Error('refused')
    })
    const c = fx.writer.mutate(log('c'))
    await expect(bad).rejects.toThrow('refused')
    await Promise.all([a, c])
    expect(await messages(fx)).toEqual(['a', 'c'])
  })

  it('nothing is written when every mutation of a group skips', async () => {
    fx = await fixture(makePlan([{name: 'diff', tasks: 1}]))
    const writes = countWrites(fx.store)
    await Promise.all([fx.writer.mutate(() => SKIP), fx.writer.mutate(() => SKIP)])
    expect(writes.n).toBe(0)
  })

  it('a mutation with topology ops keeps its place: later mutations are written after it', async () => {
    fx = await fixture(makePlan([{name: 'diff', tasks: 1}]))
    const first = fx.writer.mutate(log('before'))
    const withOps = fx.writer.mutate(log('with ops'), [{op: 'put', path: 'test/marker', value: {n: 1}}])
    const after = fx.writer.mutate(log('after'))
    await Promise.all([first, withOps, after])
    expect(await messages(fx)).toEqual(['before', 'with ops', 'after'])
    expect((await fx.store.get('test/marker'))?.value).toEqual({n: 1})
  })
})
