// The copy's own paths against real MariaDB: rows read raw and written as LOAD DATA from reused chunk buffers, each
// chunk sent as several LOCAL INFILE packets (views of the buffer), a row larger than a chunk, bytes LOAD DATA must
// escape at packet and chunk boundaries, routing on a typed column, and the primary key to resume from.
import type {Connection} from 'mysql2/promise'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {copyTable} from '../../src/mysql/copy.js'
import {describeSchema} from '../../src/mysql/tables.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'

let c: TestCluster
let db: string
const conns: Connection[] = []

const TABLE = `CREATE TABLE chunky (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, k BIGINT NOT NULL, v LONGBLOB, s VARCHAR(50) CHARACTER SET utf8mb4) ENGINE=InnoDB`

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0})
  db = c.layouts[1]!.database
  for (const alias of ['test-100', 'test-200', 'test-300']) {
    const conn = await c.connect(alias, 'admin', {charset: 'BINARY'})
    conns.push(conn)
    await conn.query('SET SESSION sql_log_bin = 0')
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${db}\``)
    await conn.query(`USE \`${db}\``)
    await conn.query(TABLE)
  }
  // About 20 MB: values of 0 to ~20 KB made of the four bytes LOAD DATA escapes and text, NULLs, non-ASCII text, one
  // value larger than a chunk, and k negative, large (past 15 digits) or small.
  // Through a utf8mb4 session (the copy's sessions are binary).
  await c.query(
    'test-100',
    `INSERT INTO \`${db}\`.chunky SELECT seq, IF(seq % 3 = 0, -seq, seq * 1000000000007), IF(seq % 97 = 0, NULL, REPEAT(CONCAT(CHAR(0), CHAR(9), CHAR(10), CHAR(92), 'x', seq), seq % 2000)), IF(seq % 5 = 0, NULL, CONCAT('é😀 ', seq)) FROM seq_1_to_2000`,
  )
  await c.query(
    'test-100',
    `INSERT INTO \`${db}\`.chunky VALUES (5000, 7, REPEAT(CONCAT(CHAR(10), 'big'), 200000), 'big')`,
  )
}, 180_000)

afterAll(async () => {
  for (const conn of conns) await conn.end().catch(() => undefined)
  await c?.stop()
})

/** A digest of the rows of `where` (id order), the same SQL on every server. */
async function digest(conn: Connection, where = '1'): Promise<{n: number; md5: string}> {
  await conn.query('SET SESSION group_concat_max_len = 1 << 30')
  const [rows] = (await conn.query(
    `SELECT COUNT(*) AS n, MD5(GROUP_CONCAT(id, ':', k, ':', IFNULL(MD5(v), 'null'), ':', IFNULL(HEX(s), 'null') ORDER BY id)) AS md5 FROM chunky WHERE ${where}`,
  )) as unknown as [Array<{n: unknown; md5: unknown}>]
  return {n: Number(String(rows[0]!.n)), md5: String(rows[0]!.md5)}
}

it('copies every byte through small chunks, two buffers per destination, routed on a typed BIGINT', async () => {
  const [src, d0, d1] = conns as [Connection, Connection, Connection]
  const table = (await describeSchema(src, db)).tables.find((t) => t.name === 'chunky')!
  const seen: unknown[] = []
  const synced: unknown[][] = []
  const res = await copyTable({
    source: src,
    database: db,
    table,
    destinations: [
      {conn: d0, alias: 'test-200'},
      {conn: d1, alias: 'test-300'},
    ],
    // k typed as a LOSSLESS connection types it: a number up to 15 digits, else the text.
    routeMany: (rows) =>
      rows.map((r) => {
        seen.push(r[1])
        return BigInt(r[1] as string | number) >= 0n ? 0 : 1
      }),
    routeColumns: [1],
    chunkBytes: 300_000,
    buffers: 2,
    syncEveryBytes: 1_000_000,
    onSync: (p) => void synced.push(p.lastPk!),
  })
  expect(res.rows).toBe(2001)
  expect(res.skipped).toBe(0)
  expect(res.lastPk).toEqual([5000])
  expect(seen).toContain(-3)
  expect(seen).toContain('1000000000007000')
  expect(synced.length).toBeGreaterThan(1)
  expect(await digest(d0)).toEqual(await digest(src, 'k >= 0'))
  expect(await digest(d1)).toEqual(await digest(src, 'k < 0'))
  expect((await digest(d0)).n + (await digest(d1)).n).toBe(2001)

  // Resuming after a primary key (REPLACE): the rows after it are written again, identical.
  await d0.query('DELETE FROM chunky WHERE id > 1500')
  const again = await copyTable({
    source: src,
    database: db,
    table,
    destinations: [{conn: d0, alias: 'test-200'}],
    routeMany: (rows) => rows.map((r) => (BigInt(r[1] as string | number) >= 0n ? 0 : -2)),
    routeColumns: [1],
    after: [1500],
    chunkBytes: 300_000,
  })
  expect(again.rows).toBe(501)
  expect(await digest(d0)).toEqual(await digest(src, 'k >= 0'))
})
