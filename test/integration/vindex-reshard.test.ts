// Every vindex type in one real reshard 0 → -80, 80- (one table per type, one whose primary key is not its vindex
// column), and an independent check of where each row landed: the keyspace id is computed here — by a separate
// implementation for hash (DES with node:crypto), numeric, reverse_bits, binary_md5 and binary; xxhash through
// src/keyspace/vindexes — and the row must be on the shard whose key range holds it, and only there.
import {createCipheriv, createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import {keyspaceId} from '../../src/keyspace/vindexes/index.js'
import {dataPlaneRuntime} from '../../src/phases/index.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {GUESTBOOK_SCHEMA, guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {KS, startFaultCluster} from '../helpers/fault-cluster.js'

const N = 64

const u64 = (v: bigint) => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt.asUintN(64, v))
  return b
}
const des = (v: bigint) => {
  const c = createCipheriv('des-ede3', Buffer.alloc(24), null)
  c.setAutoPadding(false)
  return Buffer.concat([c.update(u64(v)), c.final()])
}
const reverseBits = (v: bigint) => {
  let out = 0n
  for (let i = 0; i < 64; i++) out |= ((v >> BigInt(i)) & 1n) << BigInt(63 - i)
  return u64(out)
}

interface Case {
  table: string
  vindex: string
  column: string
  /** The primary key, when it is not the vindex column. */
  pk?: string
  ddl: string
  fill: string
  id: (v: unknown) => Buffer
}

const big = (v: unknown) => BigInt(String(v))
const bytes = (v: unknown) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v)))

const CASES: Case[] = [
  {
    table: 't_hash_orders',
    vindex: 'hash',
    column: 'customer_id',
    pk: 'order_id',
    ddl: 'order_id BIGINT UNSIGNED PRIMARY KEY, customer_id BIGINT UNSIGNED NOT NULL, v VARCHAR(32)',
    fill: `SELECT seq, seq * 7919 % 23 + 1, CONCAT('o', seq)`,
    id: (v) => des(big(v)),
  },
  {
    table: 't_xxhash',
    vindex: 'xxhash',
    column: 'id',
    ddl: 'id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(32)',
    fill: `SELECT seq * 1000003, CONCAT('x', seq)`,
    id: (v) => keyspaceId('xxhash', String(v)),
  },
  {
    table: 't_numeric',
    vindex: 'numeric',
    column: 'id',
    ddl: 'id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(32)',
    // Spread over the whole uint64 range: half of them at or above 2^63.
    fill: `SELECT (seq - 1) * 288230376151711744 + seq, CONCAT('n', seq)`,
    id: (v) => u64(big(v)),
  },
  {
    table: 't_reverse_bits',
    vindex: 'reverse_bits',
    column: 'id',
    ddl: 'id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(32)',
    fill: `SELECT seq, CONCAT('r', seq)`,
    id: (v) => reverseBits(big(v)),
  },
  {
    table: 't_binary_md5',
    vindex: 'binary_md5',
    column: 'name',
    ddl: 'name VARBINARY(32) PRIMARY KEY, v VARCHAR(32)',
    fill: `SELECT CONCAT('name', seq), CONCAT('m', seq)`,
    id: (v) => createHash('md5').update(bytes(v)).digest(),
  },
  {
    table: 't_binary',
    vindex: 'binary',
    column: 'k',
    ddl: 'k VARBINARY(16) PRIMARY KEY, v VARCHAR(32)',
    fill: `SELECT CONCAT(UNHEX(LPAD(HEX(seq * 4 % 256), 2, '0')), 'k'), CONCAT('b', seq)`,
    id: (v) => bytes(v),
  },
]

let c: TestCluster
let dir: string

beforeAll(async () => {
  // The independent hash agrees with the published values before it judges anything.
  expect(des(1n).toString('hex')).toBe('166b40b44aba4bd6')
  expect(reverseBits(1n).toString('hex')).toBe('8000000000000000')
  dir = mkdtempSync(join(tmpdir(), 'shardform-vindex-'))
  const vindexes = Object.fromEntries(CASES.map((k) => [k.vindex, {type: k.vindex}]))
  writeFileSync(
    join(dir, 'vschema.json'),
    JSON.stringify({
      sharded: true,
      vindexes,
      tables: {
        messages: {column_vindexes: [{column: 'page', name: 'hash'}]},
        ...Object.fromEntries(CASES.map((k) => [k.table, {column_vindexes: [{column: k.column, name: k.vindex}]}])),
      },
    }),
  )
  writeFileSync(join(dir, '2-shards.yaml'), readFileSync(guestbookFile('2-shards.yaml'), 'utf8'))
  const schema = [GUESTBOOK_SCHEMA, ...CASES.map((k) => `CREATE TABLE ${k.table} (${k.ddl}) ENGINE=InnoDB;`)].join('\n')
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), join(dir, '2-shards.yaml')], {init: 0, schema})
  for (const k of CASES) await c.query('test-100', `INSERT INTO ${k.table} ${k.fill} FROM seq_1_to_${N}`)
}, 180_000)

afterAll(async () => {
  await c?.stop()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

describe('every vindex type in a real reshard', () => {
  it('puts each row on the shard holding its keyspace id, and only there', {timeout: 180_000}, async () => {
    const r = await apply({
      store: c.store,
      runtime: dataPlaneRuntime(),
      target: c.layoutFiles[1],
      autoApprove: true,
    })
    expect(r.state === 'failed' ? r.failed.map((t) => `${t.id}: ${t.error}`) : r.state).toBe('done')
    const st = await readKeyspaceState(c.store, KS)
    expect(st!.srvKeyspace.partitions.primary).toEqual(['-80', '80-'])

    for (const k of CASES) {
      const source = await c.query(`test-100`, `SELECT ${k.column} AS v FROM ${k.table}`)
      expect(source, k.table).toHaveLength(N)
      const seen = new Map<string, string>()
      const problems: string[] = []
      for (const [shard, alias] of [
        ['-80', 'test-200'],
        ['80-', 'test-300'],
      ] as const) {
        for (const row of await c.query(alias, `SELECT ${k.pk ?? k.column} AS k, ${k.column} AS v FROM ${k.table}`)) {
          const id = k.id(row.v)
          const want = id.length > 0 && id[0]! >= 0x80 ? '80-' : '-80'
          const key = Buffer.isBuffer(row.k) ? row.k.toString('hex') : String(row.k)
          if (want !== shard) problems.push(`${key} (keyspace id ${id.toString('hex')}) is on ${shard}, not ${want}`)
          if (seen.has(key)) problems.push(`${key} is on ${seen.get(key)} and ${shard}`)
          seen.set(key, shard)
        }
      }
      expect(problems, k.table).toEqual([])
      expect(seen.size, k.table).toBe(N)
      // Both shards got rows (the values were chosen to spread), so the check above judged both sides.
      expect(new Set(seen.values()).size, k.table).toBe(2)
    }
    // The table keyed by order_id went by customer_id: orders of one customer are together.
    const byCustomer = new Map<string, Set<string>>()
    for (const alias of ['test-200', 'test-300'])
      for (const row of await c.query(alias, 'SELECT customer_id AS v FROM t_hash_orders'))
        byCustomer.set(String(row.v), (byCustomer.get(String(row.v)) ?? new Set()).add(alias))
    expect([...byCustomer.values()].every((s) => s.size === 1)).toBe(true)
  })
})
