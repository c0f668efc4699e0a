// Every common column type survives clone and filtered replication byte for byte (real MariaDB + etcd).
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import {guestbookFile, startTestCluster, writesDuringReplication, type TestCluster} from '../helpers/cluster.js'

const TYPES = `CREATE TABLE alltypes (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  i8 TINYINT, u8 TINYINT UNSIGNED, i16 SMALLINT, u16 SMALLINT UNSIGNED, i24 MEDIUMINT, u24 MEDIUMINT UNSIGNED,
  i32 INT, u32 INT UNSIGNED, i64 BIGINT, u64 BIGINT UNSIGNED,
  dec65 DECIMAL(65,30), dec5 DECIMAL(5,2), f FLOAT, d DOUBLE,
  c CHAR(10) CHARACTER SET utf8mb4, vc VARCHAR(100) CHARACTER SET utf8mb4, txt TEXT CHARACTER SET utf8mb4,
  lat VARCHAR(20) CHARACTER SET latin1,
  bin BINARY(4), vbin VARBINARY(20), blb BLOB,
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), yr YEAR,
  js JSON, en ENUM('a','b','c d'), st SET('x','y','z'), bt BIT(64)
) ENGINE=InnoDB`

// Values chosen to break lossy paths: limits, precision, 0x00/0xff bytes, 4-byte UTF-8, zero dates, NULLs.
const ROWS = [
  `(1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
    '-99999999999999999999999999999999999.999999999999999999999999999999', -999.99, 0.1234567, 2.2250738585072014e-308,
    'é😀', 'tab\\there\\nnewline \\\\ back', REPEAT('ü', 1000), 'hé',
    0x00ff0aff, 0x00, 0xffff00ff, '1000-01-01', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '-838:59:59.999999', 2155,
    '{"a": [1, 2.5, "x", null, true], "b": {"c": "😀"}}', 'c d', 'x,z', b'1111111111111111111111111111111111111111111111111111111111111111')`,
  `(2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0,
    '99999999999999999999999999999999999.999999999999999999999999999999', 999.99, -3.4028234e38, 1.7976931348623157e308,
    '', '', '', '',
    0x00000000, '', '', '0000-00-00', '0000-00-00 00:00:00.000000', '1970-01-01 00:00:01.000000', '838:59:59.999999', 1901,
    '[]', 'a', '', b'0')`,
  `(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
]

const COLUMNS = [
  'id',
  'i8',
  'u8',
  'i16',
  'u16',
  'i24',
  'u24',
  'i32',
  'u32',
  'i64',
  'u64',
  'dec65',
  'dec5',
  'f',
  'd',
  'c',
  'vc',
  'txt',
  'lat',
  'bin',
  'vbin',
  'blb',
  'dt',
  'dtm',
  'ts',
  'tm',
  'yr',
  'js',
  'en',
  'st',
  'bt',
]

/** Every column as exact bytes: HEX of the value (FLOAT through DOUBLE, whose text keeps all its bits). */
const EXACT = `SELECT ${COLUMNS.map((c) => (c === 'f' ? 'HEX(CAST(f AS DOUBLE))' : c === 'd' ? 'HEX(CAST(d AS CHAR))' : `HEX(${c})`)).join(', ')}, ISNULL(i8) AS n FROM vt_test_keyspace.alltypes ORDER BY id`

let c: TestCluster
let layout2: string

beforeAll(async () => {
  // The guestbook layouts, with alltypes sharded by id in the 2-shard vschema.
  const dir = mkdtempSync(join(tmpdir(), 'sf-types-'))
  const vs = JSON.parse(readFileSync(guestbookFile('vschema.json'), 'utf8'))
  vs.tables.alltypes = {column_vindexes: [{column: 'id', name: 'hash'}]}
  writeFileSync(join(dir, 'vschema.json'), JSON.stringify(vs))
  writeFileSync(
    join(dir, '1-shard.yaml'),
    readFileSync(guestbookFile('1-shard.yaml'), 'utf8').replace(
      '    messages: {}',
      '    messages: {}\n    alltypes: {}',
    ),
  )
  writeFileSync(join(dir, '2-shards.yaml'), readFileSync(guestbookFile('2-shards.yaml'), 'utf8'))
  c = await startTestCluster([join(dir, '1-shard.yaml'), join(dir, '2-shards.yaml')], {init: 0, schema: TYPES})
  layout2 = c.layoutFiles[1]
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

describe('column types', () => {
  it('survive clone and filtered replication byte for byte', async () => {
    await c.query('test-100', `INSERT INTO vt_test_keyspace.alltypes VALUES ${ROWS.join(',')}`)
    const warnings = await c.query('test-100', 'SHOW WARNINGS')
    expect(warnings).toEqual([])
    // After the clone, while filtered replication runs: insert (copies with new ids), update and delete on the source.
    const runtime = writesDuringReplication(async () => {
      await c.query(
        'test-100',
        `INSERT INTO vt_test_keyspace.alltypes SELECT id + 100, ${COLUMNS.slice(1).join(', ')} FROM vt_test_keyspace.alltypes WHERE id <= 3`,
      )
      await c.query(
        'test-100',
        `UPDATE vt_test_keyspace.alltypes SET vc = CONCAT(vc, '✓'), vbin = 0x00ff00, js = '{"u": 1}', bt = b'101', f = 1.5e-20 WHERE id IN (1, 102)`,
      )
      // Moves a row to another key range: a delete on one destination, an insert on the other.
      await c.query('test-100', 'UPDATE vt_test_keyspace.alltypes SET id = 1000004 WHERE id = 103')
      await c.query('test-100', 'INSERT INTO vt_test_keyspace.alltypes (id) VALUES (200), (201)')
      await c.query('test-100', 'DELETE FROM vt_test_keyspace.alltypes WHERE id = 200')
    })
    const res = await apply({store: c.store, runtime, autoApprove: true, target: layout2})
    expect(res.state === 'failed' ? res.failed.map((t) => t.error) : res.state).toBe('done')

    const source = await c.query<Record<string, unknown>>('test-100', EXACT)
    const dest = [
      ...(await c.query<Record<string, unknown>>('test-200', EXACT)),
      ...(await c.query<Record<string, unknown>>('test-300', EXACT)),
    ]
    const byId = (rows: Record<string, unknown>[]) =>
      [...rows].sort((a, b) => String(a['HEX(id)']).localeCompare(String(b['HEX(id)'])))
    expect(source.length).toBe(7)
    expect(byId(dest)).toEqual(byId(source))
    // Spot checks that the comparison is about the values we think it is.
    const [one] = await c.query<{vc: string; u64: string; f: number}>(
      'test-100',
      'SELECT vc, u64, CAST(f AS DOUBLE) AS f FROM vt_test_keyspace.alltypes WHERE id = 1',
    )
    expect(one.u64).toBe('18446744073709551615')
    expect(one.vc).toBe('tab\there\nnewline \\ back✓')
    expect(one.f).toBe(Math.fround(1.5e-20))
    // Each row lives on the shard its keyspace id belongs to.
    const onMinus80 = (
      await c.query<{id: string}>('test-200', 'SELECT id FROM vt_test_keyspace.alltypes ORDER BY id')
    ).map((r) => String(r.id))
    const {keyspaceId} = await import('../../src/keyspace/vindexes/index.js')
    for (const r of source) {
      const id = BigInt('0x' + String(r['HEX(id)']))
      const low = keyspaceId('hash', id)[0] < 0x80
      expect(onMinus80.includes(id.toString())).toBe(low)
    }
  }, 240_000)
})
