// Write buffering during a cutover (Vitess's vtgate/buffer): a statement refused because its shard stopped taking
// writes is held, and tried again whenever the topology moves (or every retry interval), for up to a window.
// Clients see a pause instead of an error; one that never gets through fails with 'buffer_timeout'.
import {performance} from 'node:perf_hooks'
import {RouterError} from './errors.js'
import type {RouteTarget} from './types.js'

/** What a held statement waits on: the topology the router follows. */
export interface ChangeSignal {
  /** The generation of the topology now (grows by one per change adopted). */
  readonly generation: number
  /** Resolves when a generation newer than `generation` is adopted, or after `timeoutMs`. */
  waitForChange(generation: number, timeoutMs: number): Promise<boolean>
  /** A statement is held: re-read the topology soon, in case a change was missed. */
  nudge(): void
  /** Once closed, held statements fail with 'closed'. */
  readonly closed: boolean
}

/** One try: it went through, or the reason to hold it (a refusal from before anything changed). */
export type Attempt<T> = {done: T} | {hold: Hold}

export interface Hold {
  why: string
  cause?: unknown
  target?: RouteTarget
}

export interface BufferStats {
  /** Statements that were held at least once. */
  buffered: number
  /** Held statements that then succeeded. */
  bufferedOk: number
  /** Held statements whose window ran out. */
  bufferTimeouts: number
  maxBufferedMs: number
  totalBufferedMs: number
  /** Statements held right now. */
  holding: number
}

export interface Buffered<T> {
  value: T
  /** How long it was held (0 when the first try went through). */
  bufferedMs: number
  attempts: number
}

export class WriteBuffer {
  private readonly st: BufferStats = {
    buffered: 0,
    bufferedOk: 0,
    bufferTimeouts: 0,
    maxBufferedMs: 0,
    totalBufferedMs: 0,
    holding: 0,
  }

  constructor(
    private readonly signal: ChangeSignal,
    private readonly retryIntervalMs = 250,
  ) {}

  stats(): BufferStats {
    return {...this.st}
  }

  /**
   * Try until a try goes through; hold on {hold}, for up to `windowMs` in all. A try that throws ends it at once
   * (never retried: it may have been applied).
   */
  async run<T>(windowMs: number, attempt: () => Promise<Attempt<T>>): Promise<Buffered<T>> {
    let heldSince: number | undefined
    let attempts = 0
    let last: Hold | undefined
    /** End a hold: it succeeded, ran out of window, or failed otherwise. */
    const release = (how: 'ok' | 'timeout' | 'failed') => {
      if (heldSince === undefined) return 0
      const ms = performance.now() - heldSince
      heldSince = undefined
      this.st.holding--
      this.st.totalBufferedMs += ms
      this.st.maxBufferedMs = Math.max(this.st.maxBufferedMs, ms)
      if (how === 'ok') this.st.bufferedOk++
      else if (how === 'timeout') this.st.bufferTimeouts++
      return ms
    }
    for (;;) {
      if (this.signal.closed) {
        release('failed')
        throw new RouterError('closed', 'the router is closed', last?.target, last?.cause)
      }
      attempts++
      const generation = this.signal.generation
      let outcome: Attempt<T>
      try {
        outcome = await attempt()
      } catch (err) {
        release('failed')
        throw err
      }
      if ('done' in outcome) return {value: outcome.done, bufferedMs: release('ok'), attempts}
      // A hold without a target or cause (no shard to route to; a frozen shard) keeps the last one known.
      const {why, target, cause} = outcome.hold
      last = {why, target: target ?? last?.target, cause: cause ?? last?.cause}
      // Hold the statement: wait for the topology to move (or a retry tick), then try again.
      const now = performance.now()
      if (heldSince === undefined) {
        heldSince = now
        this.st.buffered++
        this.st.holding++
      }
      const left = windowMs - (now - heldSince)
      if (left <= 0) {
        const ms = release('timeout')
        throw new RouterError(
          'buffer_timeout',
          `held for ${Math.round(ms)} ms (buffer window ${windowMs} ms) and never applied: ${last.why}`,
          last.target,
          last.cause,
        )
      }
      this.signal.nudge()
      await this.signal.waitForChange(generation, Math.min(this.retryIntervalMs, left))
    }
  }
}
