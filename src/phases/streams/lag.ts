// Replication lag from heartbeats: when the stream committed a heartbeat's transaction on the destination, minus the
// time the heartbeat was written on the source (one clock: the same process writes and measures).

/** The newest heartbeat a stream has applied. */
export interface AppliedHeartbeat {
  /** When it was written on the source, ms since the epoch (µs precision). */
  writtenMs: number
  /** When the transaction holding it committed on the destination, ms since the epoch. */
  appliedMs: number
}

/**
 * Lag in ms at `nowMs`. Caught up with the source: the lag measured at the last heartbeat. Behind it: at least that,
 * and at least how long ago the next heartbeat (due `intervalMs` after the last one) was written without having been
 * applied, so the figure keeps growing while the stream is paused or slow. Undefined before any heartbeat.
 */
export function heartbeatLagMs(
  last: AppliedHeartbeat | undefined,
  nowMs: number,
  caughtUp: boolean,
  intervalMs: number,
): number | undefined {
  if (!last) return undefined
  const measured = Math.max(0, last.appliedMs - last.writtenMs)
  if (caughtUp) return Math.round(measured)
  return Math.round(Math.max(measured, nowMs - last.writtenMs - intervalMs))
}

/**
 * Lag (s) from binlog commit times, to the second, used until a heartbeat was applied: 0 caught up, else since the
 * oldest transaction not yet applied was committed; undefined while the source's position or that time is unknown.
 */
export function commitTimeLagSeconds(
  sourceKnown: boolean,
  caughtUp: boolean,
  pendingSince: number | undefined,
  nowMs: number,
): number | undefined {
  if (!sourceKnown) return undefined
  if (caughtUp) return 0
  return pendingSince ? Math.max(0, (nowMs - pendingSince) / 1000) : undefined
}

/** A status's lag fields: the heartbeat figure when there is one, else the commit-time one. */
export function lagFields(
  heartbeatMs: number | undefined,
  commitSeconds: number | undefined,
): {lagMs?: number; lagFrom?: 'heartbeat' | 'commit_time'; lagSeconds?: number} {
  const lagMs = heartbeatMs ?? (commitSeconds === undefined ? undefined : Math.round(commitSeconds * 1000))
  if (lagMs === undefined) return {}
  return {lagMs, lagFrom: heartbeatMs === undefined ? 'commit_time' : 'heartbeat', lagSeconds: lagMs / 1000}
}
