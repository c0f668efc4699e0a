// How etcd requests are retried: short plain retries instead of etcd3's circuit breaker, so a restarted etcd is
// found quickly.
import {setTimeout as sleep} from 'node:timers/promises'
import type {IOptions} from 'etcd3'

export type Etcd3Module = typeof import('etcd3')

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
          // Only retry what was surely never sent: a timed-out write may have been applied.
          if (attempt >= 3 || !(e instanceof mod.GRPCUnavailableError)) throw e
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
