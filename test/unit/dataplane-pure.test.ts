// Pure pieces of the data plane: value encodings, GTID positions, key comparison, statement batching.
import {describe, expect, it} from 'vitest'
import {LoadDataEncoder, quoteString, sqlLiteral} from '../../src/mysql/codec.js'
import {advance, behind, covers, formatGtidPos, parseGtidPos, reached} from '../../src/mysql/gtid.js'
import {compareDecimal, compareInteger, keyComparator, rowsEqual} from '../../src/mysql/rows.js'
import type {ColumnInfo, TableInfo} from '../../src/mysql/tables.js'
import {afterClause} from '../../src/mysql/copy.js'
import {applyStatements} from '../../src/phases/streams/apply-sql.js'
import {copyRouter, placement, rowFilter} from '../../src/phases/routing.js'
import {parseShardName} from '../../src/keyspace/keyrange.js'

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
  columns: [
    col('page', 'bigint', {columnType: 'bigint(20) unsigned'}),
    col('time_created_ns', 'bigint'),
    col('message', 'varchar', {charset: 'utf8mb4'}),
  ],
  primaryKey: ['page', 'time_created_ns'],
  create: '',
}

describe('LOAD DATA encoding', () => {
  it('escapes the four special bytes, writes NULL as \\N and numbers as text', () => {
    const e = new LoadDataEncoder(4)
    e.add([1, Buffer.from([0x00, 0x09, 0x0a, 0x5c, 0xff]), null, '18446744073709551615', 'é'])
    e.add([2n, Buffer.alloc(0), 0.5, -1, 'x'])
    expect(e.rows).toBe(2)
    const out = e.take()
    expect(out.toString('latin1')).toBe('1\t\\0\\t\\n\\\\\xff\t\\N\t18446744073709551615\t\xc3\xa9\n2\t\t0.5\t-1\tx\n')
    expect(e.size).toBe(0)
  })
})

describe('SQL literals', () => {
  it('numbers stay unquoted (a quoted BIGINT compares as DOUBLE), strings are escaped, binary is hex', () => {
    expect(sqlLiteral('18446744073709551615', col('u', 'bigint'))).toBe('18446744073709551615')
    expect(sqlLiteral('-12.50', col('d', 'decimal'))).toBe('-12.50')
    expect(sqlLiteral(0.12345670163631439, col('f', 'float'))).toBe('0.12345670163631439')
    expect(sqlLiteral("it's \\ \n\0", col('s', 'varchar'))).toBe("'it\\'s \\\\ \\n\\0'")
    expect(sqlLiteral(Buffer.from([0, 255]), col('b', 'varbinary'))).toBe("X'00ff'")
    expect(sqlLiteral(null, col('s', 'varchar'))).toBe('NULL')
    expect(sqlLiteral('2020-01-02 03:04:05.123456', col('t', 'datetime'))).toBe("'2020-01-02 03:04:05.123456'")
    expect(sqlLiteral('1; DROP TABLE x', col('u', 'bigint'))).toBe("'1; DROP TABLE x'")
    expect(quoteString('😀')).toBe("'😀'")
  })
})

describe('GTID positions', () => {
  it('parse, format, compare and advance per domain', () => {
    const p = parseGtidPos('0-1-100,1-2-5')
    expect(formatGtidPos(p)).toBe('0-1-100,1-2-5')
    expect(covers(p, '0-1-100')).toBe(true)
    expect(covers(p, '0-1-101')).toBe(false)
    expect(covers(p, '2-1-1')).toBe(false)
    expect(reached(p, parseGtidPos('0-1-99'))).toBe(true)
    expect(reached(p, parseGtidPos('0-1-101'))).toBe(false)
    expect(behind(parseGtidPos('0-1-90'), p)).toBe(15n)
    expect(formatGtidPos(advance(p, '0-3-101'))).toBe('0-3-101,1-2-5')
    expect(parseGtidPos('').size).toBe(0)
    expect(() => parseGtidPos('x')).toThrow(/not a MariaDB GTID position/)
  })
})

describe('key order', () => {
  it('decimals compare exactly', () => {
    expect(compareDecimal('10', '9')).toBe(1)
    expect(compareDecimal('-10', '-9')).toBe(-1)
    expect(compareDecimal('1.10', '1.1')).toBe(0)
    expect(compareDecimal('0.001', '0.01')).toBe(-1)
    expect(compareDecimal('-1', '0')).toBe(-1)
    expect(compareDecimal('123456789012345678901234567890.1', '123456789012345678901234567890.09')).toBe(1)
  })
  it('integer keys compare as 64-bit integers, text keys byte-wise', () => {
    const cmp = keyComparator(messages, [0, 1])
    expect(cmp(['18446744073709551615', 1], ['18446744073709551614', 9])).toBe(1)
    expect(cmp([5, 1], [5, 2])).toBe(-1)
    expect(cmp([5, '2'], [5, 2])).toBe(0)
  })
  it('integers compare exactly without BigInts, as BigInt would', () => {
    const values = [
      '0',
      '9',
      '10',
      '-1',
      '-10',
      '-9',
      '42',
      '18446744073709551615',
      '18446744073709551614',
      '9223372036854775807',
      '-9223372036854775808',
      '100000000000000000000',
      '00042',
      '00123',
    ]
    for (const a of values)
      for (const b of values) {
        const x = BigInt(a)
        const y = BigInt(b)
        expect(compareInteger(a, b), `${a} vs ${b}`).toBe(x < y ? -1 : x > y ? 1 : 0)
      }
  })
  it('rows compare byte for byte', () => {
    expect(rowsEqual([1, Buffer.from('a'), null], [1, Buffer.from('a'), null], 3)).toBe(true)
    expect(rowsEqual([1, Buffer.from('a'), null], [1, Buffer.from('b'), null], 3)).toBe(false)
    expect(rowsEqual([1, null], [1, Buffer.alloc(0)], 2)).toBe(false)
    expect(rowsEqual(['1', 2], [1, '2'], 2)).toBe(true)
  })
})

describe('resume after a key', () => {
  it('expands a composite key into ranges the optimizer can use', () => {
    expect(afterClause(['a', 'b'], [1, 'x'])).toEqual({sql: '(`a` > ?) OR (`a` = ? AND `b` > ?)', params: [1, 1, 'x']})
  })
})

describe('filtered replication statements', () => {
  it('batches runs of inserts and deletes, keeps updates in order, addresses rows by primary key', () => {
    const r = (page: number | string, t: number, message: string) => ({page, time_created_ns: t, message})
    const sql = applyStatements('vt_ks', [
      {kind: 'insert', table: messages, row: r(1, 1, 'a')},
      {kind: 'insert', table: messages, row: r('18446744073709551615', 2, "b'")},
      {kind: 'update', table: messages, before: r(1, 1, 'a'), after: r(1, 1, 'c')},
      {kind: 'delete', table: messages, row: r(1, 1, 'c')},
      {kind: 'delete', table: messages, row: r(2, 2, 'x')},
    ])
    expect(sql).toEqual([
      "INSERT INTO `vt_ks`.`messages` (`page`,`time_created_ns`,`message`) VALUES (1,1,'a'),(18446744073709551615,2,'b\\'')",
      "UPDATE `vt_ks`.`messages` SET `page`=1,`time_created_ns`=1,`message`='c' WHERE `page`=1 AND `time_created_ns`=1",
      'DELETE FROM `vt_ks`.`messages` WHERE (`page`,`time_created_ns`) IN ((1,1),(2,2))',
    ])
  })
  it('refuses row images without the primary key (binlog_row_image must be FULL)', () => {
    expect(() => applyStatements('d', [{kind: 'delete', table: messages, row: {message: 'x'}}])).toThrow(
      /lacks primary key column page/,
    )
  })
})

describe('row placement', () => {
  const vschema = {
    sharded: true,
    vindexes: {hash: {type: 'hash'}},
    tables: {messages: {column_vindexes: [{column: 'page', name: 'hash'}]}, ref: {type: 'reference' as const}},
  }
  const dests = [
    {name: '-80', kr: parseShardName('-80')},
    {name: '80-', kr: parseShardName('80-')},
  ]
  it('routes by the keyspace id of the primary vindex column (hash(1)=166b…, hash(4)=d2fd…)', () => {
    const {route, routeMany} = copyRouter(placement(vschema, messages, dests), messages, dests)
    expect(route([1, 1, Buffer.from('x')])).toBe(0)
    expect(route(['4', 1, Buffer.from('x')])).toBe(1)
    const values = [1, '4', '18446744073709551615', 2, -1, 9007199254740993n, '123456789012345678']
    expect(routeMany(values.map((v) => [v]))).toEqual(values.map((v) => route([v])))
    expect(routeMany([[1], ['4']])).toEqual([0, 1])
    expect(() => route([null, 1, null])).toThrow(/a row of messages\.page has no keyspace id: NULL has no keyspace id/)
    expect(() => routeMany([[1], [null]])).toThrow(/NULL has no keyspace id/)
  })
  it('reference tables go everywhere, a single destination takes everything', () => {
    const ref = {...messages, name: 'ref'}
    expect(copyRouter(placement(vschema, ref, dests), ref, dests).route([9])).toBe(-1)
    expect(
      copyRouter(placement({sharded: false}, messages, dests.slice(0, 1)), messages, dests.slice(0, 1)).route([9]),
    ).toBe(0)
  })
  it('filters binlog row images for one destination', () => {
    const keep = rowFilter(placement(vschema, messages, dests), messages, dests[1])
    expect(keep({page: 4})).toBe(true)
    expect(keep({page: 1})).toBe(false)
  })
  it('a table missing from a sharded vschema is an error, not a guess', () => {
    expect(() => placement(vschema, {...messages, name: 'other'}, dests)).toThrow(/table "other" is not in the vschema/)
  })
})

describe('row placement on 8-byte ids', () => {
  it('routes exactly like the byte comparison, for any shard boundaries', async () => {
    const {generateShards} = await import('../../src/keyspace/keyrange.js')
    const {randomBytes} = await import('node:crypto')
    const vschema = {
      sharded: true,
      vindexes: {hash: {type: 'hash'}},
      tables: {messages: {column_vindexes: [{column: 'page', name: 'hash'}]}},
    }
    const values: unknown[][] = Array.from({length: 5000}, (_, i) => [
      i % 3 === 0 ? String(randomBytes(8).readBigUInt64BE()) : i,
    ])
    for (const names of [
      generateShards(2),
      generateShards(3),
      generateShards(7),
      generateShards(300),
      ['-4000000000000001', '4000000000000001-80', '80-'],
    ]) {
      const dests = names.map((name) => ({name, kr: parseShardName(name)}))
      const {route, routeMany} = copyRouter(placement(vschema, messages, dests), messages, dests)
      expect(routeMany(values)).toEqual(values.map((v) => route(v)))
    }
  })
})
