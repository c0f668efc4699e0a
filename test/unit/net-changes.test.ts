// A batch of filtered replication applied as its net change per row: the same end state as applying every change in
// source order, in fewer statements; tables where another order could differ keep the source order.
import {describe, expect, it} from 'vitest'
import type {RowImage} from '../../src/mysql/binlog.js'
import type {ColumnInfo, TableInfo} from '../../src/mysql/tables.js'
import {applyStatements, transactionQueries, type ApplyOp} from '../../src/phases/streams/apply-sql.js'
import {canNet, netChanges} from '../../src/phases/streams/net-changes.js'

const col = (name: string, dataType: string, extra: Partial<ColumnInfo> = {}): ColumnInfo => ({
  name,
  dataType,
  columnType: dataType,
  charset: null,
  nullable: true,
  generated: false,
  ...extra,
})
const messages: TableInfo = {
  name: 'messages',
  columns: [col('page', 'bigint'), col('ts', 'bigint'), col('message', 'varchar', {charset: 'utf8mb4'})],
  primaryKey: ['page', 'ts'],
  create: 'CREATE TABLE `messages` (… PRIMARY KEY (`page`,`ts`)) ENGINE=InnoDB',
}
const users: TableInfo = {
  name: 'users',
  columns: [col('id', 'int'), col('email', 'varchar', {charset: 'utf8mb4'})],
  primaryKey: ['id'],
  create: 'CREATE TABLE `users` (… PRIMARY KEY (`id`), UNIQUE KEY `email` (`email`)) ENGINE=InnoDB',
}
const names: TableInfo = {
  name: 'names',
  columns: [col('name', 'varchar', {charset: 'utf8mb4'}), col('n', 'int')],
  primaryKey: ['name'],
  create: 'CREATE TABLE `names` (… PRIMARY KEY (`name`)) ENGINE=InnoDB',
}

const m = (page: number | string, ts: number, message: string): RowImage => ({page, ts, message})
const ins = (row: RowImage): ApplyOp => ({kind: 'insert', table: messages, row})
const del = (row: RowImage): ApplyOp => ({kind: 'delete', table: messages, row})
const upd = (before: RowImage, after: RowImage): ApplyOp => ({kind: 'update', table: messages, before, after})

/** A destination table as a map: ops applied as the statements of today's ordered path would (a consistent source). */
function applyOps(start: Map<string, RowImage>, ops: ApplyOp[]): Map<string, RowImage> {
  const t = new Map(start)
  const key = (r: RowImage) => `${String(r.page)}/${String(r.ts)}`
  for (const op of ops) {
    if (op.kind === 'insert') {
      if (t.has(key(op.row))) throw new Error(`duplicate key ${key(op.row)}`)
      t.set(key(op.row), op.row)
    } else if (op.kind === 'upsert') t.set(key(op.row), op.row)
    else if (op.kind === 'delete') t.delete(key(op.row))
    else if (t.has(key(op.before))) {
      t.delete(key(op.before))
      t.set(key(op.after), op.after)
    }
  }
  return t
}

/** A random consistent sequence of changes on `start` (as a source would log them). */
function randomOps(start: Map<string, RowImage>, n: number, seed: number): ApplyOp[] {
  let s = seed
  const rand = (k: number) => {
    s = (s * 1103515245 + 12345) % 2147483648
    return s % k
  }
  const live = new Map(start)
  const key = (r: RowImage) => `${String(r.page)}/${String(r.ts)}`
  const ops: ApplyOp[] = []
  for (let i = 0; i < n; i++) {
    const rows = [...live.values()]
    const r = rand(10)
    const fresh = () => {
      for (;;) {
        const row = m(rand(20), rand(3), `v${i}`)
        if (!live.has(key(row))) return row
      }
    }
    if (r < 4 || !rows.length) {
      const row = fresh()
      live.set(key(row), row)
      ops.push(ins(row))
    } else if (r < 7) {
      const before = rows[rand(rows.length)]
      const after = {...before, message: `u${i}`}
      live.set(key(before), after)
      ops.push(upd(before, after))
    } else if (r < 8) {
      // An update of the key.
      const before = rows[rand(rows.length)]
      const after = {...fresh(), message: `k${i}`}
      live.delete(key(before))
      live.set(key(after), after)
      ops.push(upd(before, after))
    } else {
      const row = rows[rand(rows.length)]
      live.delete(key(row))
      ops.push(del(row))
    }
  }
  return ops
}

describe('net changes of a batch', () => {
  it('end in the same state as the changes in source order (random batches, key updates included)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const start = new Map<string, RowImage>()
      for (let p = 0; p < 6; p++) start.set(`${p}/0`, m(p, 0, 'start'))
      const ops = randomOps(start, 1 + (seed % 40), seed)
      const net = netChanges(ops)
      expect(applyOps(start, net)).toEqual(applyOps(start, ops))
      // One op per key touched (a key update touches two).
      const touched = new Set(
        ops
          .flatMap((o) => (o.kind === 'update' ? [o.before, o.after] : [o.row]))
          .map((r) => `${String(r.page)}/${String(r.ts)}`),
      )
      expect(net.length).toBeLessThanOrEqual(touched.size)
    }
  })

  it('keeps one change per key: new rows inserted, changed rows upserted, removed rows deleted, in key order', () => {
    const net = netChanges([
      ins(m(9, 1, 'a')),
      upd(m(9, 1, 'a'), m(9, 1, 'b')),
      upd(m(3, 1, 'x'), m(3, 1, 'y')),
      upd(m(3, 1, 'y'), m(3, 1, 'z')),
      del(m(2, 1, 'old')),
      ins(m(5, 1, 'gone')),
      del(m(5, 1, 'gone')),
      del(m(7, 1, 'old')),
      ins(m(7, 1, 'again')),
      ins(m('18446744073709551615', 1, 'max')),
      ins(m(10, 1, 'ten')),
    ])
    expect(net).toEqual([
      {kind: 'delete', table: messages, row: m(2, 1, 'old')},
      {kind: 'insert', table: messages, row: m(9, 1, 'b')},
      {kind: 'insert', table: messages, row: m(10, 1, 'ten')},
      {kind: 'insert', table: messages, row: m('18446744073709551615', 1, 'max')},
      {kind: 'upsert', table: messages, row: m(3, 1, 'z')},
      {kind: 'upsert', table: messages, row: m(7, 1, 'again')},
    ])
    expect(applyStatements('ks', net)).toEqual([
      'DELETE FROM `ks`.`messages` WHERE `page`=2 AND `ts`=1',
      "INSERT INTO `ks`.`messages` (`page`,`ts`,`message`) VALUES (9,1,'b'),(10,1,'ten'),(18446744073709551615,1,'max')",
      "INSERT INTO `ks`.`messages` (`page`,`ts`,`message`) VALUES (3,1,'z'),(7,1,'again') ON DUPLICATE KEY UPDATE `message`=VALUES(`message`)",
    ])
  })

  it('keeps the source order where another order could differ: other unique keys, keys with a character set', () => {
    expect(canNet(messages)).toBe(true)
    expect(canNet(users)).toBe(false)
    expect(canNet(names)).toBe(false)
    expect(canNet({...messages, primaryKey: []})).toBe(false)
    // Row 1 gives up an e-mail that row 2 takes: applied in another order the unique key would refuse it.
    const ops: ApplyOp[] = [
      {kind: 'update', table: users, before: {id: 2, email: 'a'}, after: {id: 2, email: 'b'}},
      {kind: 'insert', table: users, row: {id: 1, email: 'a'}},
      {kind: 'update', table: names, before: {name: 'A', n: 1}, after: {name: 'A', n: 2}},
      {kind: 'delete', table: names, row: {name: 'a', n: 2}},
    ]
    expect(netChanges(ops)).toEqual(ops)
  })

  it('keeps the source order of a table when an image lacks a column (binlog_row_image not FULL)', () => {
    const ops = [upd(m(1, 1, 'a'), {page: 1, ts: 1}), ins(m(2, 1, 'b'))]
    expect(netChanges(ops)).toEqual(ops)
  })

  it('nets each table by itself, tables in the order they first appear', () => {
    const ops: ApplyOp[] = [
      {kind: 'insert', table: users, row: {id: 1, email: 'a'}},
      ins(m(2, 1, 'x')),
      {kind: 'delete', table: users, row: {id: 1, email: 'a'}},
      del(m(2, 1, 'x')),
    ]
    expect(netChanges(ops)).toEqual([ops[0], ops[2]])
  })

  it('deletes by a plain key list when the key has one column, upserts the key alone when it is every column', () => {
    const ids: TableInfo = {name: 'ids', columns: [col('id', 'int')], primaryKey: ['id'], create: ''}
    expect(
      applyStatements('ks', [
        {kind: 'delete', table: ids, row: {id: 1}},
        {kind: 'delete', table: ids, row: {id: 2}},
        {kind: 'upsert', table: ids, row: {id: 3}},
      ]),
    ).toEqual([
      'DELETE FROM `ks`.`ids` WHERE `id` IN (1,2)',
      'INSERT INTO `ks`.`ids` (`id`) VALUES (3) ON DUPLICATE KEY UPDATE `id`=VALUES(`id`)',
    ])
  })
})

describe('a batch as round trips', () => {
  it('is one query when small, several of bounded size in one transaction when large', () => {
    expect(transactionQueries(['A', 'B'])).toEqual(['START TRANSACTION;A;B;COMMIT'])
    const stmts = ['x'.repeat(30), 'y'.repeat(30), 'z'.repeat(30)]
    const qs = transactionQueries(stmts, 70)
    expect(qs).toEqual([`START TRANSACTION;${stmts[0]}`, `${stmts[1]};${stmts[2]};COMMIT`])
    expect(qs.join(';')).toBe(`START TRANSACTION;${stmts.join(';')};COMMIT`)
  })
})
