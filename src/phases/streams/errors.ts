// How a stream's failures read: a source primary that cannot be read, DDL on the source, and DDL errors a rerun may
// meet.
import {isConnectionLost, withoutTabletPrefix} from '../../mysql/connect.js'
import type {StreamSpec} from './types.js'

/** Errors of a DDL run again after a crash between it and the position (its effect is already there). */
export const DDL_ALREADY_DONE = new Set([
  1050, // table exists
  1051, // unknown table
  1054, // unknown column
  1060, // duplicate column
  1061, // duplicate key name
  1091, // can't drop: no such column or key
  1146, // table doesn't exist
])

/**
 * A source primary that cannot be read (stopped, crashed, unreachable): say which, and that the stream resumes from
 * its stored position once the tablet answers again. Other errors (a purged binlog, say) pass unchanged.
 */
export function sourceLost(sp: StreamSpec, err: unknown): Error {
  const e = err as Error & {code?: string}
  if (!isConnectionLost(e)) return e
  const t = sp.source
  const detail = withoutTabletPrefix(e.message || String(e.code))
  const out = new Error(
    `filtered replication ${sp.sourceShard} → ${sp.destinationShard} cannot read the source primary ${t.alias} (${t.host}:${t.port}) of shard ${sp.sourceShard}: ${detail}. Nothing is lost: the stream continues from its stored position on ${sp.destination.alias} once the tablet answers again. If it stopped, start it again (shardform local up <layouts> restarts the stopped tablets of a local cluster), then retry the failed task.`,
    {cause: err},
  )
  return Object.assign(out, {code: e.code})
}

/** DDL on the source with settings.onDdl: stop. */
export function ddlStopped(sp: StreamSpec, statement: string, gtid: string): Error {
  return new Error(
    `the source ${sp.sourceShard} (tablet ${sp.source.alias}) ran DDL on ${sp.database} while filtered replication into ${sp.destinationShard} was running: ${statement} (GTID ${gtid}). The stream stopped there (settings.onDdl: stop). To go on, cancel this reshard by applying the layout it started from, then apply the new layout again (set settings.onDdl: exec in it to have shardform run such statements on the destinations as it replicates).`,
  )
}

/** The source's DDL failed on the destination (settings.onDdl: exec). */
export function ddlFailed(sp: StreamSpec, statement: string, gtid: string, err: unknown): Error {
  return new Error(
    `running the source's DDL on tablet ${sp.destination.alias} (settings.onDdl: exec) failed: ${statement} (GTID ${gtid}): ${(err as Error).message}. Make the destination's schema match the source's by hand, then retry the failed task.`,
    {cause: err},
  )
}
