// Guestbook rows for the benchmarks: deterministic, ~100-byte messages, written once as a LOAD DATA file in primary-key
// order (as mysqldump and a clone read them), loaded into a source with LOAD DATA LOCAL INFILE.
import {closeSync, openSync, readSync, statSync, writeSync} from 'node:fs'
import {Readable} from 'node:stream'
import type {Connection} from 'mysql2/promise'
import {keyspaceIdsFlat} from '../../src/keyspace/vindexes/index.js'
import {LOAD_DATA_FORMAT} from '../../src/mysql/codec.js'

export const DATABASE = 'vt_test_keyspace'
export const TABLE = 'messages'
export const MESSAGE_BYTES = 100
/** time_created_ns of row i is TS_BASE + i * 1024 (unique; the load generator's values are far above). */
export const TS_BASE = 1_600_000_000_000_000_000n

/** mulberry32: a small, fast, seeded PRNG (32-bit outputs). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

/** Filler text: a long random string; messages take slices of it at random offsets. */
function fillerSource(rand: () => number, n = 1 << 16): string {
  let s = ''
  for (let i = 0; i < n; i++) s += ALNUM[rand() % ALNUM.length]
  return s
}

export class MessageMaker {
  private readonly filler: string
  constructor(private readonly rand: () => number) {
    this.filler = fillerSource(rand)
  }
  /** A message of exactly MESSAGE_BYTES ASCII bytes (no byte LOAD DATA would need escaped). */
  make(page: bigint | string, tag = ''): string {
    const head = `guestbook page ${page}${tag} `
    const need = Math.max(0, MESSAGE_BYTES - head.length)
    const off = this.rand() % (this.filler.length - need)
    return (head + this.filler.slice(off, off + need)).slice(0, MESSAGE_BYTES)
  }
}

export interface RowKeys {
  /** page of row i (sorted ascending). */
  pages: BigUint64Array
  /** time_created_ns of row i. */
  ts(i: number): bigint
}

/**
 * Pages of N rows spread evenly over the whole BIGINT UNSIGNED range, in ascending order (row i in stride i, at a
 * random offset): the file is in primary-key order and the keyspace ids (hash of page) fall on both halves.
 */
export function rowKeys(n: number, seed = 1): RowKeys {
  const rand = prng(seed)
  const stride = (1n << 64n) / BigInt(n)
  const pages = new BigUint64Array(n)
  for (let i = 0; i < n; i++) {
    const off = ((BigInt(rand()) << 32n) | BigInt(rand())) % stride
    pages[i] = BigInt(i) * stride + off
  }
  return {pages, ts: (i) => TS_BASE + BigInt(i) * 1024n}
}

/** Write N guestbook rows as a LOAD DATA file (tab-separated, one row a line). Returns bytes written. */
export function writeRowsFile(file: string, keys: RowKeys, seed = 2): number {
  const msgs = new MessageMaker(prng(seed))
  const fd = openSync(file, 'w')
  let bytes = 0
  try {
    let chunk: string[] = []
    let size = 0
    const flush = () => {
      const buf = Buffer.from(chunk.join(''), 'latin1')
      writeSync(fd, buf)
      bytes += buf.length
      chunk = []
      size = 0
    }
    for (let i = 0; i < keys.pages.length; i++) {
      const page = keys.pages[i]
      const line = `${page}\t${keys.ts(i)}\t${msgs.make(page)}\n`
      chunk.push(line)
      size += line.length
      if (size >= 4 << 20) flush()
    }
    if (size) flush()
  } finally {
    closeSync(fd)
  }
  return bytes
}

/** The file as chunks of about `chunkBytes`, each ending at a line end. */
export function readChunks(file: string, chunkBytes = 4 << 20): Buffer[] {
  const size = statSync(file).size
  const fd = openSync(file, 'r')
  const out: Buffer[] = []
  try {
    let pos = 0
    let carry = Buffer.alloc(0)
    while (pos < size) {
      const buf = Buffer.allocUnsafe(Math.min(chunkBytes, size - pos))
      const n = readSync(fd, buf, 0, buf.length, pos)
      pos += n
      const data = carry.length ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n)
      const end = pos >= size ? data.length : data.lastIndexOf(0x0a) + 1
      out.push(Buffer.from(data.subarray(0, end)))
      carry = Buffer.from(data.subarray(end))
    }
    if (carry.length) out.push(carry)
  } finally {
    closeSync(fd)
  }
  return out
}

export const loadDataSql = (db = DATABASE, table = TABLE) =>
  `LOAD DATA LOCAL INFILE 'bench' INTO TABLE \`${db}\`.\`${table}\` ${LOAD_DATA_FORMAT} (page, time_created_ns, message)`

/**
 * LOAD DATA LOCAL INFILE of the chunks, one statement (one transaction) per chunk, one after the other on one
 * connection (a binary-charset session: dataSession(t, 'copy'), the statement shardform's copy sends).
 */
export async function loadChunks(conn: Connection, chunks: Buffer[], onChunk?: (done: number) => void): Promise<void> {
  const sql = loadDataSql()
  let i = 0
  for (const c of chunks) {
    await conn.query({sql, infileStreamFactory: () => Readable.from([c])} as never)
    onChunk?.(++i)
  }
}

/**
 * The rows of `chunks` split as the hash vindex splits them into -80 and 80- (the split's destinations), regrouped
 * into chunks of about `chunkBytes`: what each destination of the split receives.
 */
export function splitByHalf(chunks: Buffer[], chunkBytes = 4 << 20): [Buffer[], Buffer[]] {
  const out: [Buffer[], Buffer[]] = [[], []]
  const pending: [Buffer[], Buffer[]] = [[], []]
  const size = [0, 0]
  const flush = (k: number) => {
    if (!pending[k].length) return
    out[k].push(Buffer.concat(pending[k]))
    pending[k] = []
    size[k] = 0
  }
  for (const c of chunks) {
    const lines: Buffer[] = []
    const pages: bigint[] = []
    for (let at = 0; at < c.length;) {
      let end = c.indexOf(0x0a, at)
      end = end < 0 ? c.length : end + 1
      const line = c.subarray(at, end)
      pages.push(BigInt(line.subarray(0, line.indexOf(0x09)).toString('latin1')))
      lines.push(line)
      at = end
    }
    const ids = keyspaceIdsFlat('hash', pages)!
    lines.forEach((line, i) => {
      const k = ids[i * 8]! < 0x80 ? 0 : 1
      pending[k].push(line)
      size[k] += line.length
      if (size[k] >= chunkBytes) flush(k)
    })
  }
  flush(0)
  flush(1)
  return out
}
