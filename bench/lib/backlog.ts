// A backlog of row changes on the source, as an application makes them: small transactions (1–10 row changes, one
// statement per row), inserts of new rows at random pages, updates and deletes of existing rows (the bench's rows
// and the backlog's own inserts), from several connections at once.
import type {Connection, ResultSetHeader} from 'mysql2/promise'
import {MessageMaker, prng, type RowKeys} from './data.js'

export interface BacklogMix {
  insert: number
  update: number
  delete: number
}

export const DEFAULT_BACKLOG_MIX: BacklogMix = {insert: 60, update: 30, delete: 10}

export interface BacklogResult {
  /** Row changes the server reported (affected rows). */
  rowChanges: number
  transactions: number
  inserts: number
  updates: number
  deletes: number
  seconds: number
  /** Transactions rolled back by a deadlock or lock wait timeout (not counted). */
  retried?: number
}

/** Live rows to update or delete: ids into the initial keys, or into the backlog's own inserts (id >= n). */
class LivePool {
  private ids: Int32Array
  private size: number
  constructor(n: number, capacity: number) {
    this.ids = new Int32Array(n + capacity)
    for (let i = 0; i < n; i++) this.ids[i] = i
    this.size = n
  }
  add(id: number): void {
    if (this.size === this.ids.length) {
      const next = new Int32Array(this.ids.length * 2)
      next.set(this.ids)
      this.ids = next
    }
    this.ids[this.size++] = id
  }
  pick(r: number): number {
    return this.ids[r % this.size]
  }
  take(r: number): number {
    const i = r % this.size
    const id = this.ids[i]
    this.ids[i] = this.ids[--this.size]
    return id
  }
  get length(): number {
    return this.size
  }
}

/**
 * Write about `changes` row changes to `conns` (app sessions with multipleStatements), each transaction one round
 * trip: START TRANSACTION; <1–10 statements>; COMMIT.
 */
export async function writeBacklog(
  conns: Connection[],
  keys: RowKeys,
  changes: number,
  opts: {mix?: BacklogMix; seed?: number; onProgress?: (done: number) => void} = {},
): Promise<BacklogResult> {
  const mix = opts.mix ?? DEFAULT_BACKLOG_MIX
  const total = mix.insert + mix.update + mix.delete
  const rand = prng(opts.seed ?? 7)
  const msgs = new MessageMaker(prng((opts.seed ?? 7) + 1))
  const n = keys.pages.length
  const pool = new LivePool(n, Math.ceil(changes * 0.7) + 16)
  const newPages: bigint[] = []
  const newTs: bigint[] = []
  let tsNext = BigInt(Date.now()) * 1_000_000n
  const page = (id: number) => (id < n ? keys.pages[id] : newPages[id - n])
  const ts = (id: number) => (id < n ? keys.ts(id) : newTs[id - n])
  const res: BacklogResult = {rowChanges: 0, transactions: 0, inserts: 0, updates: 0, deletes: 0, seconds: 0}
  let issued = 0
  const t0 = Date.now()
  let lastReport = 0

  const worker = async (conn: Connection) => {
    while (issued < changes) {
      const rows = 1 + (rand() % 10)
      issued += rows
      const stmts: string[] = []
      const kinds: Array<'insert' | 'update' | 'delete'> = []
      const taken: number[] = []
      for (let i = 0; i < rows; i++) {
        const r = rand() % total
        if (r < mix.insert || pool.length < 1000) {
          const p = (BigInt(rand()) << 32n) | BigInt(rand())
          const t = (tsNext += 1024n)
          const id = n + newPages.length
          newPages.push(p)
          newTs.push(t)
          stmts.push(
            `INSERT INTO messages (page, time_created_ns, message) VALUES (${p}, ${t}, '${msgs.make(p, ' backlog')}')`,
          )
          kinds.push('insert')
          taken.push(id)
        } else if (r < mix.insert + mix.update) {
          const id = pool.pick(rand())
          stmts.push(
            `UPDATE messages SET message = '${msgs.make(page(id), ' updated')}' WHERE page = ${page(id)} AND time_created_ns = ${ts(id)}`,
          )
          kinds.push('update')
        } else {
          // Taken out of the pool first: no other transaction touches a row being deleted.
          const id = pool.take(rand())
          stmts.push(`DELETE FROM messages WHERE page = ${page(id)} AND time_created_ns = ${ts(id)}`)
          kinds.push('delete')
        }
      }
      let results: ResultSetHeader[]
      try {
        ;[results] = (await conn.query(`START TRANSACTION;${stmts.join(';')};COMMIT`)) as unknown as [ResultSetHeader[]]
      } catch (err) {
        // Two transactions touching the same rows in another order: InnoDB rolled one back. Skip it, like an app retrying later.
        const errno = (err as {errno?: number}).errno
        await conn.query('ROLLBACK').catch(() => undefined)
        if (errno === 1213 || errno === 1205) {
          res.retried = (res.retried ?? 0) + 1
          continue
        }
        throw err
      }
      res.transactions++
      for (let i = 0; i < kinds.length; i++) {
        const affected = results[i + 1]?.affectedRows ?? 0
        res.rowChanges += affected
        if (kinds[i] === 'insert') {
          res.inserts += affected
          pool.add(taken[i])
        } else if (kinds[i] === 'update') res.updates += affected
        else res.deletes += affected
      }
      if (opts.onProgress && Date.now() - lastReport > 2000) {
        lastReport = Date.now()
        opts.onProgress(res.rowChanges)
      }
    }
  }
  await Promise.all(conns.map(worker))
  res.seconds = (Date.now() - t0) / 1000
  return res
}
