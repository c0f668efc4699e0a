// How etcd requests are retried: short plain retries instead of etcd3's circuit breaker, so a restarted etcd is
// found quickly; a request that may have been applied is never sent again here (the caller finds out, see call()).
import {setTimeout as sleep} from 'node:timers/promises'
import type {IOptions} from 'etcd3'

export type Etcd3Module = typeof import('etcd3')

/**
 * The request never left this client: gRPC had no connection to the member it picked (down, restarting). Safe to
 * send again, writes too; etcd3 sends each attempt to the next member of the URL.
 */
export function neverSent(mod: Etcd3Module, e: unknown): boolean {
  return e instanceof mod.GRPCUnavailableError && /No connection established/.test(e.message)
}

/**
 * A read may be asked again after any UNAVAILABLE: a member without a leader ("leader changed", "no leader",
 * "request timed out" during an election) or a connection dropped mid-call. Not for writes: the same answers come
 * back for a proposal that may have been committed.
 */
export function readRetryable(mod: Etcd3Module, e: unknown): boolean {
  return e instanceof mod.GRPCUnavailableError
}

/**
 * etcd3's defaults put a circuit breaker on each host (refusing calls for 5 s after 3 failures) and back watches
 * off up to 30 s: too slow to notice a restarted etcd. Use short, plain retries instead.
 */
export function faultHandling(mod: Etcd3Module): IOptions['faultHandling'] {
  type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>
  type Backoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>
  const signal = new AbortController().signal
  const passthrough = {execute: async <T>(fn: (ctx: {signal: AbortSignal}) => T | PromiseLike<T>) => fn({signal})}
  const retry = {
    async execute<T>(fn: (ctx: {signal: AbortSignal}) => T | PromiseLike<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn({signal})
        } catch (e) {
          // Only what surely never reached etcd: a write that timed out, or met a leader change, may be applied.
          if (attempt >= 3 || !neverSent(mod, e)) throw e
          await sleep(100 * attempt)
        }
      }
    },
  }
  const backoff = (ms: number): unknown => ({duration: ms, next: () => backoff(Math.min(ms * 2, 2_000))})
  return {
    host: () => passthrough as unknown as Policy,
    global: retry as unknown as Policy,
    watchBackoff: {next: () => backoff(100)} as unknown as Backoff,
  }
}
