// Copy one table from a snapshot reader to destination shards: stream rows in primary-key order, route each row,
// write large LOAD DATA chunks. Memory is bounded: one chunk being filled and one in flight per destination.
import type {EventEmitter} from 'node:events'
import {Readable} from 'node:stream'
import type {Connection} from 'mysql2/promise'
import {LOAD_DATA_FORMAT, LoadDataEncoder, type RowValue} from './codec.js'
import {qid} from './connect.js'
import {ShardformError} from '../errors.js'
import {copyColumns, selectList, type TableInfo} from './tables.js'

export interface CopyDestination {
  /** A binary-charset admin session on the destination primary (dataSession 'copy'). */
  conn: Connection
  alias: string
}

export interface CopyProgress {
  /** Rows read from the source (all routed somewhere or deliberately skipped). */
  rows: number
  /** Primary key of the last row whose chunk is committed on every destination. */
  lastPk?: RowValue[]
  /** Rows that belong to none of the destinations (misplaced on the source). */
  skipped?: number
}

export interface CopyTableOptions {
  source: Connection
  /** The tablet `source` reads, named in read errors. */
  sourceAlias?: string
  database: string
  table: TableInfo
  destinations: CopyDestination[]
  /**
   * Which destinations rows go to, many rows at a time: an index, -1 for every destination (reference tables), or
   * -2 to skip a row (one outside every destination's key range).
   */
  routeMany: (rows: RowValue[][]) => number[]
  /** Extra select expressions appended to the row (e.g. the vindex column as utf8mb4); not written. */
  extraSelect?: string[]
  /** Continue after this primary key (resume), replacing rows that may already be there. */
  after?: RowValue[]
  chunkBytes?: number
  /** Chunks that may wait per destination behind the one being written (default 3). */
  queueDepth?: number
  /** Called at each sync point, when everything up to `lastPk` is committed everywhere. */
  onSync?: (p: CopyProgress) => Promise<void> | void
  /** Called often with the rows read so far (for progress display). */
  onRows?: (rows: number) => void
  syncEveryBytes?: number
  signal?: AbortSignal
  /** Awaited between chunks, the read paused meanwhile (a replica-lag throttle). */
  throttle?: () => Promise<void>
  /** Writes each chunk (`write`) in a transaction that commits only while this run still owns the copy (fencing). */
  fence?: (dest: CopyDestination, write: () => Promise<void>) => Promise<void>
}

const CHUNK = 4 << 20

/** WHERE clause for "primary key after these values", expanded so the range optimizer can use the index. */
export function afterClause(pk: string[], values: RowValue[]): {sql: string; params: RowValue[]} {
  const ors: string[] = []
  const params: RowValue[] = []
  for (let i = 0; i < pk.length; i++) {
    const ands = pk.slice(0, i).map((c) => `${qid(c)} = ?`)
    ands.push(`${qid(pk[i])} > ?`)
    ors.push(`(${ands.join(' AND ')})`)
    params.push(...values.slice(0, i), values[i])
  }
  return {sql: ors.join(' OR '), params}
}

export async function copyTable(o: CopyTableOptions): Promise<CopyProgress> {
  const t = o.table
  if (!t.primaryKey.length)
    throw new Error(`table ${t.name} has no primary key; shardform needs one to copy, replicate and compare rows`)
  const cols = copyColumns(t)
  const pkIdx = t.primaryKey.map((k) => cols.findIndex((c) => c.name === k))
  const select = [selectList(t), ...(o.extraSelect ?? [])].join(', ')
  const where = o.after ? afterClause(t.primaryKey, o.after) : undefined
  const sql = `SELECT ${select} FROM ${qid(o.database)}.${qid(t.name)}${where ? ` WHERE ${where.sql}` : ''} ORDER BY ${t.primaryKey.map(qid).join(', ')}`
  const load = `LOAD DATA LOCAL INFILE 'shardform' ${o.after ? 'REPLACE' : ''} INTO TABLE ${qid(o.database)}.${qid(t.name)} ${LOAD_DATA_FORMAT} (${cols.map((c) => qid(c.name)).join(', ')})`
  const chunkBytes = o.chunkBytes ?? CHUNK
  const syncEvery = o.syncEveryBytes ?? 64 << 20

  const enc = o.destinations.map(() => new LoadDataEncoder(chunkBytes + (64 << 10)))
  let failure: unknown
  let rows = 0
  let skipped = 0
  let lastPk: RowValue[] | undefined
  let sinceSync = 0

  // Chunks queued per destination beyond the one being written: the reader runs this far ahead before it waits, so
  // that one destination being slow for a moment does not starve the others (rows alternate between them). Each
  // destination's chunks are written in order: the last one queued is the tail of its chain.
  const depth = o.queueDepth ?? 3
  const queued: Array<Array<Promise<void>>> = o.destinations.map(() => [])
  const send = (d: number): Promise<void> => {
    const payload = enc[d].take()
    const q = queued[d]
    const prev = q.at(-1) ?? Promise.resolve()
    const dest = o.destinations[d]
    const write = async () => {
      await dest.conn.query({sql: load, infileStreamFactory: () => Readable.from([payload])} as never)
    }
    const p = prev.then(() => (o.fence ? o.fence(dest, write) : write()))
    p.catch(
      (err) =>
        (failure ??=
          err instanceof ShardformError
            ? err
            : new Error(`writing ${t.name} to tablet ${dest.alias}: ${(err as Error).message}`)),
    )
    sinceSync += payload.length
    q.push(p)
    while (q.length > depth + 1) q.shift()
    return q.length > depth ? q[0] : Promise.resolve()
  }
  const syncAll = async (): Promise<void> => {
    for (let d = 0; d < enc.length; d++) if (enc[d].size > 0) void send(d)
    await Promise.allSettled(queued.map((q) => q.at(-1) ?? Promise.resolve()))
    if (failure) throw failure
    sinceSync = 0
    if (o.onSync) await o.onSync({rows, lastPk, skipped})
  }

  const raw = (
    o.source as unknown as {
      connection: EventEmitter & {query(opts: object, params?: unknown[]): {stream(opts?: object): Readable}}
    }
  ).connection
  // A throttled read may pause for minutes: the server must not give up writing the result to us meanwhile. The
  // first wait comes before the read (a small table is one chunk).
  if (o.throttle) {
    await o.source.query('SET SESSION net_write_timeout = 86400')
    await o.throttle()
  }
  const stream = raw.query({sql, rowsAsArray: true}, where?.params ?? []).stream({highWaterMark: 2000})
  const nCols = cols.length
  // Rows are routed in batches: a keyspace id computed alone costs several times more.
  let pending: RowValue[][] = []
  const BATCH = 512
  const place = (): void => {
    const dests = o.routeMany(pending)
    for (let i = 0; i < pending.length; i++) {
      const row = pending[i]
      const values = row.length === nCols ? row : row.slice(0, nCols)
      const dest = dests[i]
      if (dest === -1) for (const e of enc) e.add(values)
      else if (dest >= 0) enc[dest].add(values)
      else skipped++
    }
    rows += pending.length
    const last = pending[pending.length - 1]
    lastPk = pkIdx.map((i) => last[i])
    pending = []
    o.onRows?.(rows)
  }
  await new Promise<void>((resolve, reject) => {
    let done = false
    const finish = (err?: unknown) => {
      if (done) return
      done = true
      if (err) {
        stream.destroy()
        reject(err)
      } else resolve()
    }
    const onAbort = () => finish(o.signal?.reason ?? new Error('aborted'))
    if (o.signal?.aborted) return onAbort()
    o.signal?.addEventListener('abort', onAbort, {once: true})
    const readFailed = (err: Error & {code?: string}) => {
      const from = o.sourceAlias ? ` from tablet ${o.sourceAlias}` : ''
      finish(Object.assign(new Error(`reading ${t.name}${from}: ${err.message}`), {code: err.code}))
    }
    // mysql2 tells a streaming query nothing when its connection breaks (the query has no callback to fail): the
    // connection emits the error instead, and the row stream would wait forever (seen when a source rdonly died).
    raw.on('error', readFailed)
    stream.on('close', () => {
      o.signal?.removeEventListener('abort', onAbort)
      raw.off('error', readFailed)
    })
    stream.on('error', readFailed)
    stream.on('end', () => {
      try {
        if (pending.length) place()
      } catch (err) {
        return finish(err)
      }
      finish()
    })
    stream.on('data', (row: RowValue[]) => {
      if (failure) return finish(failure)
      pending.push(row)
      if (pending.length < BATCH) return
      try {
        place()
      } catch (err) {
        return finish(err)
      }
      const full = enc.findIndex((e) => e.size >= chunkBytes)
      if (full >= 0 || sinceSync >= syncEvery) {
        stream.pause()
        const sent = full >= 0 ? send(full) : syncAll()
        const wait = o.throttle ? sent.then(o.throttle) : sent
        wait.then(
          () => {
            if (failure) return finish(failure)
            if (!done) stream.resume()
          },
          // send() hands back the previous chunk's promise: its raw error ("read ECONNRESET") does not name the
          // tablet; `failure`, set by that chunk's own handler first, does.
          (err) => finish(failure ?? err),
        )
      }
    })
  })
  await syncAll()
  o.onRows?.(rows)
  return {rows, lastPk, skipped}
}
