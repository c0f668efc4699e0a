// The MySQL grants shardform's admin user needs, verified: a full 1 → 2 reshard of the guestbook (clone, filtered
// replication with inserts, updates, deletes and writes to another database, diff, cutover, retire) by a user that
// holds exactly the grants README.md lists — not ALL PRIVILEGES. And each global privilege of the list is needed:
// the statement shardform runs with it fails without it.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import {keyspaceId} from '../../src/keyspace/vindexes/index.js'
import {loadLayout} from '../../src/layout/index.js'
import {rootConnection} from '../../src/local/mariadb.js'
import {loadSchema} from '../../src/mysql/schema-file.js'
import {initKeyspace} from '../../src/layout/init.js'
import {
  GUESTBOOK_SCHEMA,
  guestbookFile,
  startTestCluster,
  writesDuringReplication,
  type TestCluster,
} from '../helpers/cluster.js'

const MIN_USER = 'sf_min'
const MIN_PW_ENV = 'SHARDFORM_MIN_ADMIN_PASSWORD'
const MIN_PW = 'min-Admin-pw-4711'
const DB = 'vt_test_keyspace'

/** GRANT treats `_` and `%` in database names as wildcards: escaped, each grant names exactly one database. */
const grantDb = (db: string) => '`' + db.replace(/([_%\\])/g, '\\$1') + '`'

/** Exactly the grants of README.md's Security section (for the admin user, on every tablet). */
export const GLOBAL_PRIVILEGES = [
  'REPLICATION SLAVE',
  'SLAVE MONITOR',
  'REPLICATION SLAVE ADMIN',
  'READ_ONLY ADMIN',
  'BINLOG ADMIN',
]
export const KEYSPACE_DB_PRIVILEGES = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'DROP',
  'CREATE VIEW',
  'SHOW VIEW',
]
export const STATE_DB_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE']

function grants(user: string, without: string[] = []): string[] {
  const keep = (list: string[]) => list.filter((p) => !without.includes(p))
  return [
    `GRANT ${keep(GLOBAL_PRIVILEGES).join(', ')} ON *.* TO ${user}`,
    `GRANT ${KEYSPACE_DB_PRIVILEGES.join(', ')} ON ${grantDb(DB)}.* TO ${user}`,
    `GRANT ${STATE_DB_PRIVILEGES.join(', ')} ON ${grantDb('_shardform')}.* TO ${user}`,
  ]
}

let c: TestCluster
let layouts: string[]

async function asRoot<T>(
  alias: string,
  fn: (q: (sql: string, params?: unknown[]) => Promise<unknown[]>) => Promise<T>,
): Promise<T> {
  const t = c.tablets.find((x) => x.alias === alias)!
  const conn = await rootConnection(t.socket)
  try {
    return await fn(async (sql, params) => (await conn.query(sql, params))[0] as unknown[])
  } finally {
    await conn.end()
  }
}

/** A user on one instance, outside the binlog (gtid_strict_mode: replicas must not see it twice). */
async function createUser(alias: string, user: string, pw: string, statements: string[]): Promise<void> {
  await asRoot(alias, async (q) => {
    await q('SET SESSION sql_log_bin = 0')
    await q(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${pw}'`)
    for (const s of statements) await q(s)
  })
}

beforeAll(async () => {
  process.env[MIN_PW_ENV] = MIN_PW
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')])
  await Promise.all(c.tablets.map((t) => createUser(t.alias, MIN_USER, MIN_PW, grants(`'${MIN_USER}'@'127.0.0.1'`))))
  // The layouts, with shardform's connections made as the restricted user.
  layouts = c.layoutFiles.map((f, i) => {
    const out = join(c.dir, `min-${i}.yaml`)
    const text = readFileSync(f, 'utf8')
      .replace(/adminUser: shardform/g, `adminUser: ${MIN_USER}`)
      .replace(/adminPasswordEnv: SHARDFORM_ADMIN_PASSWORD/g, `adminPasswordEnv: ${MIN_PW_ENV}`)
    expect(text).toContain(`adminUser: ${MIN_USER}`)
    writeFileSync(out, text)
    return out
  })
  await initKeyspace(c.store, loadLayout(layouts[0]!))
  // `schema load` runs as the admin user too.
  const loaded = await loadSchema(
    c.store,
    'test_keyspace',
    `${GUESTBOOK_SCHEMA}\nCREATE VIEW recent AS SELECT page, message FROM messages WHERE time_created_ns > 100;`,
  )
  expect(loaded.filter((r) => r.error)).toEqual([])
  // Another database on the source, with a temporal column (its binlog events need column metadata): shardform's
  // user may not read it, and must not need to.
  await asRoot('test-100', async (q) => {
    // MariaDB's default (the local cluster logs FULL metadata): the binlog reader then looks columns up in
    // information_schema, where the restricted user sees only what it has privileges on.
    await q("SET GLOBAL binlog_row_metadata = 'NO_LOG'")
    await q('CREATE DATABASE otherdb')
    await q('CREATE TABLE otherdb.audit (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6), note VARCHAR(50))')
  })
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

const ROWS = `SELECT page, time_created_ns, message FROM ${DB}.messages ORDER BY page, time_created_ns`

describe('minimal grants for shardform’s admin user', () => {
  it('a full reshard runs with exactly the documented grants', async () => {
    for (let i = 0; i < 300; i++) {
      await c.query('test-100', `INSERT INTO ${DB}.messages VALUES (?, ?, ?)`, [i * 7 + 1, i, `message ${i}`], 'app')
    }
    const runtime = writesDuringReplication(async () => {
      for (let i = 300; i < 340; i++)
        await c.query('test-100', `INSERT INTO ${DB}.messages VALUES (?, ?, ?)`, [i * 7 + 1, i, `late ${i}`], 'app')
      await c.query(
        'test-100',
        `UPDATE ${DB}.messages SET message = CONCAT(message, ' (edited)') WHERE page % 3 = 0`,
        [],
        'app',
      )
      await c.query('test-100', `DELETE FROM ${DB}.messages WHERE page % 5 = 0`, [], 'app')
      await asRoot('test-100', async (q) => {
        for (let i = 0; i < 5; i++)
          await q("INSERT INTO otherdb.audit (at, note) VALUES (NOW(6), 'not shardform''s business')")
      })
    })
    const res = await apply({store: c.store, runtime, autoApprove: true, target: layouts[1]})
    expect(res.state === 'failed' ? res.failed.map((t) => `${t.id}: ${t.error}`) : res.state).toBe('done')
    if (res.state !== 'done') return
    for (const d of ['-80', '80-'])
      expect((res.wf.tasks[`diff/${d}`]!.output as {compared: number}).compared).toBeGreaterThan(100)
    expect(res.wf.tasks['retire_sources/0']!.state).toBe('done')
    // The copy came from the rdonly tablet (STOP SLAVE / SHOW SLAVE STATUS worked), not from the primary fallback.
    expect((res.wf.tasks['clone/0']!.output as {snapshot: {kind: string; tablet: string}}).snapshot).toMatchObject({
      kind: 'rdonly',
      tablet: 'test-102',
    })

    const source = await c.query<{page: string}>('test-100', ROWS)
    const dest = [
      ...(await c.query<{page: string}>('test-200', ROWS)),
      ...(await c.query<{page: string}>('test-300', ROWS)),
    ]
    const k = (r: {page: string; time_created_ns?: unknown}) =>
      `${String(r.page).padStart(8, '0')}:${r.time_created_ns}`
    expect(source.length).toBeGreaterThan(250)
    expect([...dest].sort((a, b) => k(a).localeCompare(k(b)))).toEqual(
      [...source].sort((a, b) => k(a).localeCompare(k(b))),
    )
    for (const r of await c.query<{page: string}>('test-200', `SELECT page FROM ${DB}.messages`))
      expect(keyspaceId('hash', BigInt(r.page))[0]! < 0x80).toBe(true)
    // The cutover happened: sources read-only, destinations writable, and the retired mark was written (needs
    // BINLOG ADMIN for SET sql_log_bin = 0; retire only logs a failure, so check the mark itself).
    expect(Number((await c.query<{ro: number}>('test-100', 'SELECT @@global.read_only AS ro'))[0]!.ro)).toBe(1)
    expect(Number((await c.query<{ro: number}>('test-200', 'SELECT @@global.read_only AS ro'))[0]!.ro)).toBe(0)
    expect(await c.query('test-100', "SELECT shard FROM _shardform.retired WHERE keyspace = 'test_keyspace'")).toEqual([
      {shard: '0'},
    ])
    // copy_schema brought the view.
    expect(
      await c.query(
        'test-300',
        "SELECT TABLE_NAME AS n FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'vt_test_keyspace'",
      ),
    ).toEqual([{n: 'recent'}])

    // And the user really held nothing more than that.
    const shown = await asRoot('test-200', (q) => q(`SHOW GRANTS FOR '${MIN_USER}'@'127.0.0.1'`))
    const lines = shown.map((r) => String(Object.values(r as object)[0]))
    expect(
      lines.some((l) =>
        /ALL PRIVILEGES|SUPER|FILE|RELOAD|PROCESS|SHUTDOWN|CREATE USER|GRANT OPTION|ON `mysql`/.test(l),
      ),
    ).toBe(false)
    expect(lines).toHaveLength(3)
  }, 300_000)

  it('each global privilege is needed: the statement shardform runs with it is refused without it', async () => {
    // [privilege, tablet, statement shardform runs (where)]
    const needs: Array<[string, string, string]> = [
      ['READ_ONLY ADMIN', 'test-201', 'SET GLOBAL read_only = 1'], // copy_schema, migrate_primary: freeze / unfreeze
      ['BINLOG ADMIN', 'test-100', 'SET SESSION sql_log_bin = 0'], // retire_sources: the retired mark stays out of the binlog
      ['SLAVE MONITOR', 'test-202', 'SHOW SLAVE STATUS'], // clone: snapshot on an rdonly tablet
      ['REPLICATION SLAVE ADMIN', 'test-202', 'STOP SLAVE'], // clone: freeze the rdonly tablet at a position
    ]
    for (const [i, [priv, alias, sql]] of needs.entries()) {
      const user = `sf_lack${i}`
      await createUser(alias, user, MIN_PW, grants(`'${user}'@'127.0.0.1'`, [priv]))
      const t = c.tablet(alias)
      const {connectTablet} = await import('../../src/mysql/connect.js')
      const conn = await connectTablet({...t, adminUser: user, adminPasswordEnv: MIN_PW_ENV}, 'admin')
      try {
        await expect(conn.query(sql), `${sql} without ${priv}`).rejects.toThrow(
          new RegExp(`you need \\(at least one of\\) the .*${priv.replace(' ', '[ _]')}`, 'i'),
        )
      } finally {
        await conn.end()
      }
    }
    // REPLICATION SLAVE: the binlog dump of filtered replication.
    await createUser('test-100', 'sf_lack_repl', MIN_PW, grants("'sf_lack_repl'@'127.0.0.1'", ['REPLICATION SLAVE']))
    const {BinlogReader} = await import('../../src/mysql/binlog.js')
    // The refusal comes with the dump request, after the reader reported ready: through onError.
    let reader: {stop(): void} | undefined
    const failed = await new Promise<Error>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no error from the binlog reader within 10 s')), 10_000)
      const done = (e: Error) => {
        clearTimeout(timer)
        resolve(e)
      }
      const tablet = {...c.tablet('test-100'), adminUser: 'sf_lack_repl', adminPasswordEnv: MIN_PW_ENV}
      BinlogReader.start({
        tablet,
        database: DB,
        fromGtid: '',
        serverId: 7777,
        onTransaction: () => undefined,
        onError: done,
      }).then((r) => (reader = r), done)
    })
    reader?.stop()
    expect(failed.message).toMatch(/binlog stream: .*REPLICATION SLAVE/)
    // READ_ONLY ADMIN also lets shardform write on read-only destinations (LOAD DATA, filtered replication): without
    // it, a write on a read_only server is refused like the application's.
    await createUser('test-201', 'sf_lack_ro', MIN_PW, grants("'sf_lack_ro'@'127.0.0.1'", ['READ_ONLY ADMIN']))
    const {connectTablet} = await import('../../src/mysql/connect.js')
    const conn = await connectTablet(
      {...c.tablet('test-201'), adminUser: 'sf_lack_ro', adminPasswordEnv: MIN_PW_ENV},
      'admin',
    )
    try {
      await expect(
        conn.query('INSERT INTO _shardform.retired VALUES (?, ?, ?, NOW())', ['x', 'y', 'z']),
      ).rejects.toThrow(/--read-only/)
    } finally {
      await conn.end()
    }
  })
})
