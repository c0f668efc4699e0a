// The source primary's binlog position (status and lag of the streams reading it), polled once a second per source in
// this process for every stream that reads it, instead of a connection and a query a second per stream.
import type {Connection} from 'mysql2/promise'
import {connectTablet} from '../../mysql/connect.js'
import {parseGtidPos, type GtidPos} from '../../mysql/gtid.js'
import type {TabletRecord} from '../../topo/records.js'

const POLL_MS = 1000

interface Poller {
  source: TabletRecord
  conn: Promise<Connection>
  timer?: NodeJS.Timeout
  listeners: Set<(pos: GtidPos) => void>
  last?: GtidPos
  first?: Promise<void>
}

const pollers = new Map<string, Poller>()

/** Hear `source`'s position now and every second; resolves with the function that stops listening. */
export async function watchSourcePosition(source: TabletRecord, listener: (pos: GtidPos) => void): Promise<() => void> {
  let p = pollers.get(source.alias)
  if (!p) {
    const created: Poller = {source, conn: connectTablet(source, 'admin'), listeners: new Set()}
    p = created
    pollers.set(source.alias, p)
    created.first = created.conn.then(
      async () => {
        await poll(created)
        created.timer = setInterval(() => void poll(created), POLL_MS)
        created.timer.unref()
      },
      (err: unknown) => {
        if (pollers.get(source.alias) === created) pollers.delete(source.alias)
        throw err
      },
    )
  }
  const poller = p
  poller.listeners.add(listener)
  try {
    await poller.first
  } catch (err) {
    poller.listeners.delete(listener)
    throw err
  }
  if (poller.last) listener(poller.last)
  return () => {
    if (!poller.listeners.delete(listener) || poller.listeners.size) return
    clearInterval(poller.timer)
    if (pollers.get(source.alias) === poller) pollers.delete(source.alias)
    void poller.conn.then((c) => c.end()).catch(() => undefined)
  }
}

async function poll(p: Poller): Promise<void> {
  try {
    const conn = await p.conn
    const [[r]] = (await conn.query('SELECT @@gtid_binlog_pos AS p')) as unknown as [Array<{p: string}>]
    p.last = parseGtidPos(String(r!.p))
    for (const l of p.listeners) l(p.last)
  } catch {
    // The source may be briefly unreachable: lag is reported from the last known position, and the next poll uses a
    // new connection (this one may be gone for good).
    void p.conn.then((c) => c.destroy()).catch(() => undefined)
    p.conn = connectTablet(p.source, 'admin')
    p.conn.catch(() => undefined)
  }
}
