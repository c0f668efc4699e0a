// Which failed etcd requests are sent again: only those that never reached a member (so a write that may have been
// committed is never silently repeated, turning into a false conflict); reads also after a leader change.
import * as mod from 'etcd3'
import {describe, expect, it} from 'vitest'
import {faultHandling, neverSent, readRetryable} from '../../src/topo/etcd-retry.js'

const noConnection = () =>
  new mod.GRPCUnavailableError(
    '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379. Resolution note: ',
  )
const timedOut = () =>
  new mod.GRPCUnavailableError('14 UNAVAILABLE: etcdserver: request timed out, possibly due to previous leader failure')
const leaderChanged = () => new mod.GRPCUnavailableError('14 UNAVAILABLE: etcdserver: leader changed')
const deadline = () => new mod.GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded after 5.003s')

/** Run the global policy over attempts that fail with `errors` in turn (then succeed); count the attempts. */
async function attempts(errors: Error[]): Promise<{calls: number; error?: Error}> {
  const policy = faultHandling(mod)!.global as unknown as {execute<T>(fn: () => Promise<T>): Promise<T>}
  let calls = 0
  try {
    await policy.execute(async () => {
      const e = errors[calls++]
      if (e) throw e
      return 'ok'
    })
    return {calls}
  } catch (error) {
    return {calls, error: error as Error}
  }
}

describe('etcd retry policy', () => {
  it('sends a request that reached no member again (to the next member)', async () => {
    expect(await attempts([noConnection()])).toEqual({calls: 2})
    expect(await attempts([noConnection(), noConnection()])).toEqual({calls: 3})
    const r = await attempts([noConnection(), noConnection(), noConnection()])
    expect(r.calls).toBe(3)
    expect(r.error?.message).toMatch(/No connection established/)
  })

  it('does not repeat a request a member may have applied', async () => {
    for (const e of [timedOut(), leaderChanged(), deadline()]) {
      const r = await attempts([e])
      expect(r.calls, e.message).toBe(1)
      expect(r.error).toBe(e)
    }
  })

  it('classifies: never sent vs. retryable for reads', () => {
    expect(neverSent(mod, noConnection())).toBe(true)
    expect(neverSent(mod, timedOut())).toBe(false)
    expect(neverSent(mod, new Error('No connection established'))).toBe(false)
    expect(readRetryable(mod, leaderChanged())).toBe(true)
    expect(readRetryable(mod, timedOut())).toBe(true)
    expect(readRetryable(mod, deadline())).toBe(false)
  })
})
