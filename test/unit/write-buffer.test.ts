// The write buffer on its own: a fake topology signal that moves only when the test says so.
import {describe, expect, it} from 'vitest'
import {WriteBuffer, type Attempt, type ChangeSignal} from '../../src/routing/buffer.js'
import {RouterError} from '../../src/routing/errors.js'

/** A topology that changes when bump() is called; waits resolve on a change only (retry ticks are not used). */
class FakeSignal implements ChangeSignal {
  generation = 0
  closed = false
  nudges = 0
  private waiters: Array<() => void> = []
  /** Resolved each time a held statement starts waiting. */
  private onWait: Array<() => void> = []
  waitForChange(generation: number): Promise<boolean> {
    if (this.generation > generation) return Promise.resolve(true)
    return new Promise((resolve) => {
      this.waiters.push(() => resolve(true))
      for (const w of this.onWait.splice(0)) w()
    })
  }
  nudge(): void {
    this.nudges++
  }
  bump(): void {
    this.generation++
    for (const w of this.waiters.splice(0)) w()
  }
  waiting(): Promise<void> {
    return new Promise((resolve) => this.onWait.push(resolve))
  }
}

describe('WriteBuffer', () => {
  it('passes a statement through at once when its first try goes through', async () => {
    const b = new WriteBuffer(new FakeSignal())
    const res = await b.run(1_000, async () => ({done: 'ok'}))
    expect(res).toEqual({value: 'ok', bufferedMs: 0, attempts: 1})
    expect(b.stats()).toMatchObject({buffered: 0, bufferedOk: 0, holding: 0})
  })

  it('holds a refused statement until the topology moves, then tries it again', async () => {
    const signal = new FakeSignal()
    const b = new WriteBuffer(signal)
    let tries = 0
    const attempt = async (): Promise<Attempt<number>> =>
      ++tries === 1 ? {hold: {why: 'shard -80 is frozen'}} : {done: signal.generation}
    const waiting = signal.waiting()
    const run = b.run(60_000, attempt)
    await waiting
    expect(b.stats()).toMatchObject({buffered: 1, holding: 1})
    expect(signal.nudges).toBe(1)
    signal.bump()
    const res = await run
    expect(res.value).toBe(1)
    expect(res.attempts).toBe(2)
    expect(b.stats()).toMatchObject({buffered: 1, bufferedOk: 1, bufferTimeouts: 0, holding: 0})
  })

  it('gives up with buffer_timeout when the window runs out, keeping the last cause', async () => {
    const b = new WriteBuffer(new FakeSignal())
    const cause = new Error('read-only')
    const err = await b.run(0, async () => ({hold: {why: 'tablet is read-only', cause}})).catch((e) => e)
    expect(err).toBeInstanceOf(RouterError)
    expect(err.code).toBe('buffer_timeout')
    expect(err.message).toMatch(/never applied: tablet is read-only/)
    expect(err.cause).toBe(cause)
    expect(b.stats()).toMatchObject({buffered: 1, bufferTimeouts: 1, bufferedOk: 0, holding: 0})
  })

  it('ends a hold at once when a try throws (never retried)', async () => {
    const signal = new FakeSignal()
    const b = new WriteBuffer(signal)
    let tries = 0
    const waiting = signal.waiting()
    const run = b.run(60_000, async (): Promise<Attempt<never>> => {
      if (++tries === 1) return {hold: {why: 'no shard serves it'}}
      throw new Error('connection lost mid-statement')
    })
    await waiting
    signal.bump()
    await expect(run).rejects.toThrow('connection lost mid-statement')
    expect(tries).toBe(2)
    expect(b.stats()).toMatchObject({buffered: 1, bufferedOk: 0, bufferTimeouts: 0, holding: 0})
  })

  it('fails held statements with "closed" once the router closes', async () => {
    const signal = new FakeSignal()
    const b = new WriteBuffer(signal)
    const waiting = signal.waiting()
    const run = b.run(60_000, async (): Promise<Attempt<never>> => ({hold: {why: 'frozen'}}))
    await waiting
    signal.closed = true
    signal.bump()
    const err = await run.catch((e) => e)
    expect(err).toBeInstanceOf(RouterError)
    expect(err.code).toBe('closed')
    expect(b.stats().holding).toBe(0)
  })
})
