// Every identifier that reaches SQL is quoted: a real 1 → 2 reshard (MariaDB + etcd, the data plane's executors) of
// a keyspace whose database name has a `$`, whose tables are named with a backtick, a space and keywords, and whose
// columns are `select`, `col;umn`, `from`, `a b`, `--x`, `'q"`. Clone, filtered replication (inserts, updates,
// deletes, a row moving across shards) and diff all run on them; the rows land where their keyspace ids say.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import {keyspaceId} from '../../src/keyspace/vindexes/index.js'
import {qid} from '../../src/mysql/connect.js'
import {startTestCluster, writesDuringReplication, type TestCluster} from '../helpers/cluster.js'

const DB = 'vt$odd_db'
const WEIRD = 'we`ird table'
const ORDER = 'order'
const VIEW = 'v`iew; --'

const SCHEMA = `
CREATE TABLE ${qid(WEIRD)} (
  \`select\` BIGINT UNSIGNED NOT NULL,
  \`a b\` VARCHAR(64) NOT NULL,
  \`col;umn\` VARCHAR(200),
  \`from\` INT,
  \`--x\` TEXT,
  \`'q"\` VARCHAR(20),
  \`where\` DATETIME(6) NULL,
  PRIMARY KEY (\`select\`, \`a b\`)
) ENGINE=InnoDB;
CREATE TABLE \`order\` (
  \`group\` VARCHAR(64) NOT NULL PRIMARY KEY,
  \`key\` INT NOT NULL,
  \`desc\` VARCHAR(64),
  INDEX \`by key\` (\`key\`)
) ENGINE=InnoDB;
CREATE VIEW ${qid(VIEW)} AS SELECT \`select\`, \`from\` FROM ${qid(WEIRD)};
`

const layout = (shards: string, vschema: string) => `keyspace: odd_ks
database: ${JSON.stringify(DB)}
vschema: ${vschema}
approvals: {default: none}
shards:
${shards}`

const ONE = layout(
  `  "0":
    tablets:
      - { alias: odd-100, type: primary, port: 1 }
      - { alias: odd-101, type: replica, port: 2 }
      - { alias: odd-102, type: rdonly, port: 3 }
`,
  '{sharded: false}',
)
const VSCHEMA = JSON.stringify({
  sharded: true,
  vindexes: {hash: {type: 'hash'}, xx: {type: 'xxhash'}},
  tables: {
    [WEIRD]: {column_vindexes: [{column: 'select', name: 'hash'}]},
    [ORDER]: {column_vindexes: [{column: 'group', name: 'xx'}]},
  },
})
const TWO = layout(
  `  "-80":
    tablets:
      - { alias: odd-200, type: primary, port: 4 }
      - { alias: odd-201, type: replica, port: 5 }
      - { alias: odd-202, type: rdonly, port: 6 }
  "80-":
    tablets:
      - { alias: odd-300, type: primary, port: 7 }
      - { alias: odd-301, type: replica, port: 8 }
      - { alias: odd-302, type: rdonly, port: 9 }
`,
  VSCHEMA,
)

/** Values that would break a statement built by concatenation. */
const NASTY = ["'; DROP TABLE `order`; --", '`', 'a\\b', '"', '\0nul', '😀 ünï', "it's", '--', ';', '/* x */']

const T = `${qid(DB)}.${qid(WEIRD)}`
const O = `${qid(DB)}.${qid(ORDER)}`
const EXACT_WEIRD = `SELECT \`select\` AS s, HEX(\`a b\`) AS ab, HEX(\`col;umn\`) AS c, \`from\` AS f, HEX(\`--x\`) AS x, HEX(\`'q"\`) AS q, \`where\` AS w FROM ${T} ORDER BY \`select\`, \`a b\``
const EXACT_ORDER = `SELECT HEX(\`group\`) AS g, \`key\` AS k, HEX(\`desc\`) AS d FROM ${O} ORDER BY \`group\``

let c: TestCluster
let dir: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sf-ident-'))
  writeFileSync(join(dir, '1-shard.yaml'), ONE)
  writeFileSync(join(dir, '2-shards.yaml'), TWO)
  c = await startTestCluster([join(dir, '1-shard.yaml'), join(dir, '2-shards.yaml')], {init: 0, schema: SCHEMA})
}, 180_000)

afterAll(async () => {
  await c?.stop()
  rmSync(dir, {recursive: true, force: true})
})

async function insertRows(from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const v = NASTY[i % NASTY.length]
    await c.query(
      'odd-100',
      `INSERT INTO ${T} (\`select\`, \`a b\`, \`col;umn\`, \`from\`, \`--x\`, \`'q"\`, \`where\`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [i, `k ${v}`, `${v}${i}`, i * 7, v.repeat(3), v.slice(0, 20), i % 3 ? null : '2020-02-29 12:34:56.789012'],
    )
    await c.query('odd-100', `INSERT INTO ${O} (\`group\`, \`key\`, \`desc\`) VALUES (?, ?, ?)`, [`g${i}${v}`, i, v])
  }
}

describe('identifiers with backticks, spaces, semicolons and keywords', () => {
  it('a reshard copies, replicates and compares them; every row lands on its shard', async () => {
    await insertRows(0, 120)
    // While filtered replication runs: inserts, updates (one moving a row to the other shard), deletes.
    const runtime = writesDuringReplication(async () => {
      await insertRows(120, 160)
      await c.query(
        'odd-100',
        `UPDATE ${T} SET \`col;umn\` = CONCAT(\`col;umn\`, '✓;--'), \`from\` = \`from\` + 1 WHERE \`select\` % 5 = 0`,
      )
      await c.query('odd-100', `UPDATE ${T} SET \`select\` = \`select\` + 100000 WHERE \`select\` IN (3, 4, 130)`)
      await c.query('odd-100', `DELETE FROM ${T} WHERE \`select\` % 11 = 0`)
      await c.query(
        'odd-100',
        `UPDATE ${O} SET \`group\` = CONCAT(\`group\`, '\`moved\`') WHERE \`key\` IN (1, 2, 3, 125)`,
      )
      await c.query('odd-100', `DELETE FROM ${O} WHERE \`key\` % 13 = 0`)
    })
    const res = await apply({store: c.store, runtime, autoApprove: true, target: c.layoutFiles[1]})
    expect(res.state === 'failed' ? res.failed.map((t) => `${t.id}: ${t.error}`) : res.state).toBe('done')
    if (res.state !== 'done') return
    // diff ran on both destinations and compared the rows of both tables.
    for (const d of ['-80', '80-']) {
      const out = res.wf.tasks[`diff/${d}`]!.output as {compared: number; tables: Array<{table: string}>}
      expect(out.compared).toBeGreaterThan(100)
      expect(out.tables.map((t) => t.table).sort()).toEqual([ORDER, WEIRD].sort())
    }

    // Same rows, same bytes: the source (kept, read-only) against the union of the destinations.
    const src = await c.query<Record<string, unknown>>('odd-100', EXACT_WEIRD)
    const dst = [
      ...(await c.query<Record<string, unknown>>('odd-200', EXACT_WEIRD)),
      ...(await c.query<Record<string, unknown>>('odd-300', EXACT_WEIRD)),
    ]
    const key = (r: Record<string, unknown>) => `${String(r.s).padStart(12, '0')}|${r.ab}`
    expect(src.length).toBeGreaterThan(130)
    expect([...dst].sort((a, b) => key(a).localeCompare(key(b)))).toEqual(
      [...src].sort((a, b) => key(a).localeCompare(key(b))),
    )
    const srcO = await c.query<Record<string, unknown>>('odd-100', EXACT_ORDER)
    const dstO = [
      ...(await c.query<Record<string, unknown>>('odd-200', EXACT_ORDER)),
      ...(await c.query<Record<string, unknown>>('odd-300', EXACT_ORDER)),
    ]
    expect([...dstO].sort((a, b) => String(a.g).localeCompare(String(b.g)))).toEqual(srcO)
    expect(srcO.some((r) => Buffer.from(String(r.g), 'hex').toString().includes('`moved`'))).toBe(true)

    // Each row is on the shard that owns its keyspace id.
    for (const [alias, low] of [
      ['odd-200', true],
      ['odd-300', false],
    ] as const) {
      for (const r of await c.query<{s: string}>(alias, `SELECT \`select\` AS s FROM ${T}`))
        expect(keyspaceId('hash', BigInt(r.s))[0]! < 0x80, `${alias} ${r.s}`).toBe(low)
      for (const r of await c.query<{g: string}>(alias, `SELECT HEX(\`group\`) AS g FROM ${O}`)) {
        expect(keyspaceId('xxhash', Buffer.from(r.g, 'hex'))[0]! < 0x80, `${alias} ${r.g}`).toBe(low)
      }
    }
    // The view came along (copy_schema), under its name.
    for (const alias of ['odd-200', 'odd-300']) {
      const views = await c.query<{n: string}>(
        alias,
        'SELECT TABLE_NAME AS n FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?',
        [DB],
      )
      expect(views.map((v) => String(v.n))).toEqual([VIEW])
      await c.query(alias, `SELECT COUNT(*) FROM ${qid(DB)}.${qid(VIEW)}`)
    }
    // Nothing was executed from the data: both tables are still there on every server.
    for (const alias of ['odd-100', 'odd-200', 'odd-300']) {
      const tables = await c.query<{n: string}>(
        alias,
        "SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
        [DB],
      )
      expect(tables.map((t) => String(t.n)).sort()).toEqual([ORDER, WEIRD].sort())
    }
  }, 300_000)
})
