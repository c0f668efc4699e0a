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
