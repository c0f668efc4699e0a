// Fencing for the copy, as for streams: each run of a clone task takes the copy over on every destination before it
// writes (or removes) anything, and every chunk it writes checks, in the chunk's own transaction, that it still owns
// the copy. A run that was taken over (paused past its claim's lease, then resumed) writes nothing more: its chunk is
// rolled back and it stops, saying which run took over.
import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import type {Connection} from 'mysql2/promise'
import {PhaseError} from './context.js'
import {STATE_DB} from './streams/state.js'

/** A new owner token for one run of a clone task. */
export function copyOwner(task: string): string {
  return `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')} ${task}`
}

/** Take the copy `id` over on this destination (waits for a chunk another run is committing right now). */
export async function takeCopy(conn: Connection, id: string, owner: string): Promise<void> {
  await conn.query(
    `INSERT INTO ${STATE_DB}.copies (id, owner, owned_at) VALUES (?, ?, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE owner = VALUES(owner), owned_at = VALUES(owned_at)`,
    [id, owner],
  )
}

/** Inside a transaction: share-lock the copy's row (chunks of one run go on in parallel; a takeover waits for them) and refuse unless `owner` still owns it. */
export async function checkCopyOwner(conn: Connection, id: string, owner: string, alias: string): Promise<void> {
  const [rows] = (await conn.query(`SELECT owner FROM ${STATE_DB}.copies WHERE id = ? LOCK IN SHARE MODE`, [
    id,
  ])) as unknown as [Array<{owner: unknown}>]
  const now = rows[0] ? String(rows[0].owner) : undefined
  if (now === owner) return
  throw new PhaseError(
    `the copy ${id} into tablet ${alias} was taken over by another run (${now ?? 'its record is gone'}); this run writes nothing more`,
    {
      code: 'phase.copy_fenced',
      detail: `This run (${owner}) was most likely paused or cut off past its claim's lease; the chunk it had ready was rolled back.`,
    },
  )
}

/** Run `fn` in a transaction on `conn` that commits only while `owner` owns the copy. */
export async function fenced<T>(
  conn: Connection,
  id: string,
  owner: string,
  alias: string,
  fn: () => Promise<T>,
): Promise<T> {
  await conn.query('START TRANSACTION')
  try {
    await checkCopyOwner(conn, id, owner, alias)
    const r = await fn()
    await conn.query('COMMIT')
    return r
  } catch (e) {
    await conn.query('ROLLBACK').catch(() => undefined)
    throw e
  }
}
