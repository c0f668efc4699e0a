// wait_for_filtered_replication with several streams into one destination (a merge): one already within the lag
// limit, the other not yet measured. The wait must sleep on the one still behind; it once raced the caught-up
// stream too, whose wait resolved at once, and spun on microtasks without ever letting a timer run.
import {describe, expect, it} from 'vitest'
import type {TaskContext} from '../../src/engine/types.js'
import {waitForFilteredReplication} from '../../src/phases/wait.js'
import type {StreamStatus} from '../../src/phases/streams/types.js'
import {makePlan} from '../helpers/engine.js'

/** A stream as the wait sees it: a status and a lag wait that a test timer settles. */
function fakeStream(source: string, lag: () => number | undefined) {
  let waits = 0
  return {
    spec: {destinationShard: '0', sourceShard: source},
    failure: undefined,
    get waits() {
      return waits
    },
    status: (): StreamStatus => ({
      id: `ks/${source}->0`,
      source,
      destination: '0',
      state: 'running',
      position: '',
      transactions: 0,
      rowChanges: 0,
      ...(lag() === undefined ? {} : {lagSeconds: lag()}),
    }),
    waitForLag(max: number, timeoutMs: number): Promise<boolean> {
      // A spinning caller calls this without end: fail the test instead of hanging it.
      if (++waits > 1000) throw new Error(`waitForLag of ${source} called ${waits} times: the wait is spinning`)
      const l = lag()
      if (l !== undefined && l <= max) return Promise.resolve(true)
      return new Promise((resolve) => setTimeout(() => resolve(false), Math.min(timeoutMs, 20)))
    },
  }
}

describe('wait_for_filtered_replication', () => {
  it('waits on the stream still behind while another is caught up, without spinning', async () => {
    let measured: number | undefined
    const caughtUp = fakeStream('-80', () => 0)
    const behind = fakeStream('80-', () => measured)
    // The second stream's lag becomes known only when a timer runs: a spinning wait never lets it.
    setTimeout(() => (measured = 0.5), 50)
    const plan = makePlan([{name: 'wait_for_filtered_replication', tasks: ['0']}], 'ks', {maxReplicationLagSeconds: 1})
    plan.groups = [{range: '0', sources: ['-80', '80-'], destinations: ['0']}] as typeof plan.groups
    const logs: string[] = []
    const ctx = {
      plan,
      task: {...plan.phases[0]!.tasks[0]!, group: 0},
      signal: new AbortController().signal,
      progress: () => undefined,
      log: (m: string) => logs.push(m),
      services: {ensureGroup: async () => [caughtUp, behind]},
    } as unknown as TaskContext
    const out = await waitForFilteredReplication(ctx)
    expect(out).toMatchObject({output: {lagSeconds: 0.5}})
    expect(logs).toEqual([expect.stringMatching(/^filtered replication into 0 lags 500 ms/)])
    // The caught-up stream was never waited on; the one behind was, a few times, not in a loop.
    expect(caughtUp.waits).toBe(0)
    expect(behind.waits).toBeGreaterThan(0)
    expect(behind.waits).toBeLessThan(100)
  })
})
