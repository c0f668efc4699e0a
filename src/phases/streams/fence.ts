// Fencing: a stream's row on the destination names its owner; an applier another one took over from stops.
import type {Connection} from 'mysql2/promise'
import {PhaseError} from '../context.js'
import {claimStream, readOwner} from './state.js'
import type {StreamSpec} from './types.js'

/** Streams an owner token has claimed in this process: claimed again only while still theirs (never taken back). */
const claimed = new Set<string>()

/**
 * Own the stream from here on: every batch checks the owner in its transaction. The first start of a stream in this
 * process takes it from any earlier applier (that one's lease ran out, or it died); a restart within the process
 * only keeps it, so a stale applier never takes a stream back from its successor.
 */
export async function claim(conn: Connection, sp: StreamSpec, owner: string): Promise<void> {
  const key = `${owner}\n${sp.id}`
  const mode = claimed.has(key) ? 'keep' : 'take'
  if (!(await claimStream(conn, sp.id, owner, mode))) throw await fencedError(conn, sp, owner)
  claimed.add(key)
}

/** Why this applier may not apply the stream any more: who owns it now, since when. */
export async function fencedError(conn: Connection, sp: StreamSpec, owner: string): Promise<PhaseError> {
  const now = await readOwner(conn, sp.id).catch(() => undefined)
  const who = !now
    ? `its stored position was removed from tablet ${sp.destination.alias}`
    : `another applier (${now.owner || 'none recorded'}) took over stream ${sp.id} on tablet ${sp.destination.alias}${now.ownedAt ? ` at ${now.ownedAt}` : ''}`
  return new PhaseError(`filtered replication ${sp.sourceShard} → ${sp.destinationShard} stopped here: ${who}`, {
    code: 'phase.stream_fenced',
    detail: `This applier (${owner}) lost the stream, most likely because it was paused or cut off past its lock's lease; it applies nothing more of it, and the batch it had ready was rolled back. The new owner continues from the stored position.`,
  })
}
