// The replica-lag throttle of one task (mysql/throttle.ts) on its source shards: their replicas and rdonly tablets, less
// the ones the task stopped for a snapshot; the waits are logged once each and shown in the task's progress.
import type {TaskContext} from '../engine/types.js'
import {replicaLagThrottle, type Throttle} from '../mysql/throttle.js'
import {DEFAULT_SETTINGS} from '../layout/types.js'
import {keyspaceState} from './context.js'

export interface SourceThrottle extends Throttle {
  /** Why the task waits now (for its progress message), or undefined. */
  readonly why: string | undefined
}

export async function sourceThrottle(ctx: TaskContext, shards: string[], exclude: string[]): Promise<SourceThrottle> {
  const state = await keyspaceState(ctx)
  const limit = ctx.plan.desired.settings.throttleReplicaLagSeconds ?? DEFAULT_SETTINGS.throttleReplicaLagSeconds
  const tablets = state.tablets.filter(
    (t) => shards.includes(t.shard) && (t.type === 'replica' || t.type === 'rdonly') && !exclude.includes(t.alias),
  )
  let why: string | undefined
  const t = replicaLagThrottle({
    tablets,
    limitSeconds: limit,
    signal: ctx.signal,
    onChange: (w) => {
      if (w && !why) ctx.log(`throttled: ${w}; ${ctx.task.id} waits for it between chunks`)
      if (!w && why) ctx.log(`throttle released: the replicas of ${shards.join(', ')} are within ${limit} s again`)
      why = w
    },
  })
  return {
    wait: () => t.wait(),
    get waitedMs() {
      return t.waitedMs
    },
    get why() {
      return why
    },
  }
}
