// Copy one table from a snapshot reader to destination shards: stream rows in primary-key order, route each row,
// write large LOAD DATA chunks. Memory is bounded: a few reused chunk buffers per destination (see Pipe).
import type {EventEmitter} from 'node:events'
import {Readable} from 'node:stream'
import type {Connection} from 'mysql2/promise'
import {LOAD_DATA_FORMAT, LoadDataEncoder, type RowValue} from './codec.js'
import {qid} from './connect.js'
import {ShardformError} from '../errors.js'
import {copyColumns, selectList, type TableInfo} from './tables.js'
import {RowTranscoder, type RowPacket} from './row-transcoder.js'
import {textValueReader, type ResultField} from './text-values.js'

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
  /** Bytes of one LOAD DATA statement per destination (default copyChunkBytes(destinations)). */
  chunkBytes?: number
  /**
   * Chunk buffers per destination (at least 2): one being filled, the others written or waiting to be. Default 3 for
   * up to 2 destinations, else 2: each of n destinations fills at 1/n of the read's rate, so its chunk in flight is
   * written long before the next one is full (a 1 → 8 clone held 48 MB of buffers with 3, which outlived the clone
   * until a full collection). Memory: destinations × buffers × chunkBytes (see copyChunkBytes).
   */
  buffers?: number
  /**
   * The columns `routeMany` reads (indexes in the row); they reach it typed as a LOSSLESS connection types them,
   * the others as raw text bytes. Default: every column typed.
   */
  routeColumns?: number[]
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

/**
 * Bytes of one LOAD DATA statement (one transaction) per destination. A chunk's few extra round trips (the fence's
 * transaction) are small against 2 MB of rows; the copy's buffers are destinations × buffers × this.
 */
export const COPY_CHUNK_BYTES = 2 << 20

/**
 * The chunk size for `n` destinations: COPY_CHUNK_BYTES up to 2, then shares of twice that, at least 512 KB. The
 * copy's buffers then stay near those of a 1 → 2 split (a 1 → 8 clone: 8 MB, not 33 MB); each destination gets 1/n of
 * the rows, so it writes proportionally fewer chunks anyway.
 */
export function copyChunkBytes(n: number): number {
  return n <= 2 ? COPY_CHUNK_BYTES : Math.max(512 << 10, Math.floor((COPY_CHUNK_BYTES * 2) / n))
}

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

/**
 * One destination's chunks: the encoder fills one buffer while the chunks before it are written, in order, on the
 * destination's connection. Buffers come back when their chunk is written and are reused: at most `buffers` of
 * them exist per destination (the read waits for one when all are taken), so memory does not depend on the table.
 */
interface Pipe {
  dest: CopyDestination
  enc: LoadDataEncoder
  spare: Buffer[]
  /** Buffers that exist (the encoder's, the spares, those in flight). */
  made: number
  /** The last chunk handed over: each waits for the one before (order, one statement at a time). */
  tail: Promise<void>
}

/** What loadData uses of mysql2's core connection (mysql2 3.24; checked by the copy's integration tests). */
interface CoreConnection {
  query(opts: object, cb: (err: Error | null) => void): LocalInfileQuery
  write(b: Buffer): void
  stream: NodeJS.WritableStream & {writableNeedDrain: boolean}
  sequenceId: number
  _bumpSequenceId(n: number): void
}
interface LocalInfileQuery {
  infileOk: unknown
  _streamLocalInfile(c: CoreConnection): unknown
}

/** LOCAL INFILE packets: 256 KB each (a packet must fit the server's max_allowed_packet). */
const PACKET = 256 << 10

/**
 * LOAD DATA LOCAL INFILE of `payload` on `conn`. mysql2 copies every piece of a LOCAL INFILE stream into a new
 * buffer: garbage that outlived the young generation while the socket waited for the server, up to ~45 MB of it
 * between full collections in the apply process (bench/explore-memory.ts). Here each packet goes out as a 4-byte
 * header and a view of `payload`, which the caller leaves untouched until the statement is done.
 */
export function loadData(conn: Connection, sql: string, payload: Buffer): Promise<void> {
  const core = (conn as unknown as {connection?: CoreConnection}).connection
  // Anything else (a stand-in connection, a mysql2 without these internals): mysql2's own LOCAL INFILE stream.
  if (!core?.stream || typeof core._bumpSequenceId !== 'function' || typeof core.sequenceId !== 'number')
    return conn.query({sql, infileStreamFactory: () => Readable.from([payload])} as never).then(() => {})
  return new Promise((resolve, reject) => {
    const q = core.query({sql}, (err) => (err ? reject(err) : resolve()))
    q._streamLocalInfile = (c) => {
      let at = 0
      const packet = (n: number) => {
        const h = Buffer.allocUnsafe(4)
        h.writeUIntLE(n, 0, 3)
        h[3] = c.sequenceId
        c._bumpSequenceId(1)
        c.write(h)
      }
      const more = () => {
        while (at < payload.length) {
          const end = Math.min(payload.length, at + PACKET)
          packet(end - at)
          c.write(payload.subarray(at, end))
          at = end
          // A broken connection fails the statement (mysql2 reports it to the query's callback).
          if (c.stream.writableNeedDrain) return void c.stream.once('drain', more)
        }
        packet(0)
      }
      more()
      return q.infileOk
    }
  })
}

interface RawQuery extends EventEmitter {
  on(event: 'fields', l: (fields: ResultField[]) => void): this
  on(event: 'result', l: () => void): this
  on(event: 'end', l: () => void): this
  on(event: 'error', l: (err: Error & {code?: string}) => void): this
}
interface RawConnection extends EventEmitter {
  query(opts: object, params?: unknown[]): RawQuery
  pause(): void
  resume(): void
}

export async function copyTable(o: CopyTableOptions): Promise<CopyProgress> {
  const t = o.table
  if (!t.primaryKey.length)
    throw new Error(`table ${t.name} has no primary key; shardform needs one to copy, replicate and compare rows`)
  const cols = copyColumns(t)
  const nCols = cols.length
  const pkIdx = t.primaryKey.map((k) => cols.findIndex((c) => c.name === k))
  const select = [selectList(t), ...(o.extraSelect ?? [])].join(', ')
  const where = o.after ? afterClause(t.primaryKey, o.after) : undefined
  const sql = `SELECT ${select} FROM ${qid(o.database)}.${qid(t.name)}${where ? ` WHERE ${where.sql}` : ''} ORDER BY ${t.primaryKey.map(qid).join(', ')}`
  const load = `LOAD DATA LOCAL INFILE 'shardform' ${o.after ? 'REPLACE' : ''} INTO TABLE ${qid(o.database)}.${qid(t.name)} ${LOAD_DATA_FORMAT} (${cols.map((c) => qid(c.name)).join(', ')})`
  const chunkBytes = o.chunkBytes ?? copyChunkBytes(o.destinations.length)
  const syncEvery = o.syncEveryBytes ?? 64 << 20
  // A chunk is handed over as soon as it reaches chunkBytes, after the row that filled it: room for one more row.
  const capacity = chunkBytes + (64 << 10)
  const budget = Math.max(2, o.buffers ?? (o.destinations.length > 2 ? 2 : 3))

  let failure: unknown
  let rows = 0
  let skipped = 0
  let lastPk: RowValue[] | undefined
  let sinceSync = 0
  let throttleDue = false
  // The read waits here for a buffer (or a throttle): resolved by the next chunk written anywhere.
  let wake: (() => void) | undefined
  const written = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  const nextWrite = () => new Promise<void>((r) => (wake = r))

  const pipes: Pipe[] = o.destinations.map((dest) => ({
    dest,
    // Full size at once: pages a small table never fills are never touched (no RSS), and no growth garbage.
    enc: new LoadDataEncoder(capacity, capacity),
    spare: [],
    made: 1,
    tail: Promise.resolve(),
  }))
  const write = async (p: Pipe, payload: Buffer) => {
    const dest = p.dest
    const run = () => loadData(dest.conn, load, payload)
    await (o.fence ? o.fence(dest, run) : run())
  }
  /** Hand the pipe's chunk to its writer; false when every buffer is taken (the caller waits for a write). */
  const handOver = (p: Pipe): boolean => {
    let next = p.spare.pop()
    if (!next && p.made < budget) {
      next = Buffer.allocUnsafe(capacity)
      p.made++
    }
    if (!next) return false
    const payload = p.enc.swap(next)
    throttleDue = true
    sinceSync += payload.length
    p.tail = p.tail
      .then(() => (failure ? undefined : write(p, payload)))
      .then(
        () => {
          // Only full-size buffers are kept (one grown past that size for a large row is kept too).
          if (payload.buffer.byteLength >= capacity && payload.byteOffset === 0)
            p.spare.push(Buffer.from(payload.buffer, 0, payload.buffer.byteLength))
          else p.made--
          written()
        },
        (err) => {
          failure ??=
            err instanceof ShardformError
              ? err
              : new Error(`writing ${t.name} to tablet ${p.dest.alias}: ${(err as Error).message}`)
          written()
        },
      )
    return true
  }
  /** Hand over every chunk at or above `min` bytes, waiting for buffers as needed. */
  const drain = async (min: number): Promise<void> => {
    for (;;) {
      if (failure) throw failure
      let waiting = false
      for (const p of pipes) if (p.enc.size >= Math.max(min, 1) && !handOver(p)) waiting = true
      if (!waiting) return
      await nextWrite()
    }
  }
  const syncAll = async (): Promise<void> => {
    await drain(1)
    await Promise.all(pipes.map((p) => p.tail))
    if (failure) throw failure
    sinceSync = 0
    if (o.onSync) await o.onSync({rows, lastPk, skipped})
  }

  const raw = (o.source as unknown as {connection: RawConnection}).connection
  // A throttled read may pause for minutes: the server must not give up writing the result to us meanwhile. The
  // first wait comes before the read (a small table is one chunk).
  if (o.throttle) {
    await o.source.query('SET SESSION net_write_timeout = 86400')
    await o.throttle()
  }
  // Rows are turned into LOAD DATA lines straight from their packets (row-transcoder.ts: mysql2's row parser is
  // replaced for this query); only the columns the router reads are typed, and the primary key of a batch's last
  // row. Rows are routed in batches: a keyspace id computed alone costs several times more.
  const tx = new RowTranscoder(nCols, o.routeColumns, pkIdx)
  const query = raw.query({sql}, where?.params ?? [])
  const parser = {next: (packet: RowPacket) => tx.add(packet)}
  Object.defineProperty(query, '_rowParser', {get: () => parser, set: () => {}, configurable: true})
  let seen = 0
  const BATCH = 512
  const place = (): void => {
    const dests = o.routeMany(tx.routed())
    const lines = tx.lines.bytesSoFar
    for (let i = 0; i < tx.count; i++) {
      const dest = dests[i]
      const start = tx.lineStart(i)
      const end = tx.lineEnd(i)
      if (dest === -1) for (const p of pipes) add(p, lines, start, end)
      else if (dest >= 0) add(pipes[dest], lines, start, end)
      else skipped++
    }
    rows += tx.count
    lastPk = tx.lastPk()
    tx.clear()
    seen = 0
    o.onRows?.(rows)
  }
  const add = (p: Pipe, lines: Buffer, start: number, end: number): void => {
    p.enc.append(lines, start, end)
    if (p.enc.size >= chunkBytes) handOver(p)
  }
  let paused = false
  await new Promise<void>((resolve, reject) => {
    let done = false
    const finish = (err?: unknown) => {
      if (done) return
      done = true
      o.signal?.removeEventListener('abort', onAbort)
      raw.off('error', readFailed)
      // The rest of the result is read and dropped (the reader's connection stays usable or is closed by the caller).
      if (paused) raw.resume()
      if (err) reject(err)
      else resolve()
    }
    const onAbort = () => finish(o.signal?.reason ?? new Error('aborted'))
    const readFailed = (err: Error & {code?: string}) => {
      const from = o.sourceAlias ? ` from tablet ${o.sourceAlias}` : ''
      finish(Object.assign(new Error(`reading ${t.name}${from}: ${err.message}`), {code: err.code}))
    }
    if (o.signal?.aborted) return onAbort()
    o.signal?.addEventListener('abort', onAbort, {once: true})
    // mysql2 tells a query without a callback nothing when its connection breaks: the connection emits the error
    // instead, and the read would wait forever (seen when a source rdonly died).
    raw.on('error', readFailed)
    query.on('error', readFailed)
    query.on('fields', (fields) => tx.setFields(fields.map(textValueReader)))
    query.on('end', () => {
      if (done) return
      try {
        if (tx.count) place()
      } catch (err) {
        return finish(err)
      }
      finish()
    })
    query.on('result', () => {
      if (done) return
      if (failure) return finish(failure)
      // Every row went through the transcoder (a mysql2 that no longer used _rowParser would copy nothing).
      if (tx.count !== ++seen) return finish(new Error(`reading ${t.name}: rows bypassed the copy's row reader`))
      if (tx.count < BATCH) return
      try {
        place()
      } catch (err) {
        return finish(err)
      }
      const full = pipes.some((p) => p.enc.size >= chunkBytes)
      if (!full && sinceSync < syncEvery && !(o.throttle && throttleDue)) return
      // Wait (the read paused) for buffers, a sync point or the throttle.
      raw.pause()
      paused = true
      const wait = async () => {
        if (full) await drain(chunkBytes)
        if (sinceSync >= syncEvery) await syncAll()
        if (o.throttle && throttleDue) {
          throttleDue = false
          await o.throttle()
        }
      }
      wait().then(
        () => {
          if (failure) return finish(failure)
          if (done) return
          paused = false
          raw.resume()
        },
        (err) => finish(failure ?? err),
      )
    })
  })
  await syncAll()
  o.onRows?.(rows)
  return {rows, lastPk, skipped}
}
