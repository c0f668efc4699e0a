// Pre-flight checks against a real local cluster (1 shard → 2): a healthy cluster passes every check, and each
// problem is found with its fix — a revoked grant, an application user read_only would not stop, a table without a
// primary key, binlog_format=STATEMENT, short binlog retention, rows in a destination database, an unreachable tablet
// (the plan is still printed; apply refuses to start and changes nothing).
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {listWorkflows} from '../../src/engine/select.js'
import {rootConnection} from '../../src/local/mariadb.js'
import {plan, type PreflightCheck} from '../../src/plan/index.js'
import {CHECK_ORDER, runPreflight, type PreflightOptions} from '../../src/preflight/index.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {cli} from '../helpers/cli.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import {freePort} from '../helpers/ports.js'

let c: TestCluster

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {
    topo: 'file',
    init: true,
    schema: true,
  })
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

async function checks(opts: PreflightOptions = {}): Promise<PreflightCheck[]> {
  const state = await readKeyspaceState(c.store, 'test_keyspace')
  const report = await runPreflight(plan(state, c.layouts[1]!), state, opts)
  expect(report.ran).toBe(true)
  return report.checks
}
const problems = (list: PreflightCheck[]) => list.filter((x) => x.status !== 'pass')

/** As root on one instance, outside the binlog (replicas must not replay it). */
async function asRoot(alias: string, ...sql: string[]): Promise<void> {
  const conn = await rootConnection(c.tablets.find((t) => t.alias === alias)!.socket)
  try {
    await conn.query('SET SESSION sql_log_bin = 0')
    for (const s of sql) await conn.query(s)
  } finally {
    await conn.end()
  }
}

describe('pre-flight checks on a real cluster', () => {
  it('a healthy cluster passes every check, on every tablet of the plan', async () => {
    const list = await checks()
    expect(problems(list)).toEqual([])
    expect(new Set(list.map((x) => x.id))).toEqual(new Set(CHECK_ORDER))
    expect(list.filter((x) => x.id === 'reachable').map((x) => x.target)).toEqual([
      'test-100',
      'test-101',
      'test-102',
      'test-200',
      'test-201',
      'test-202',
      'test-300',
      'test-301',
      'test-302',
    ])
  })

  it("a revoked grant of shardform's user fails with the GRANT that restores it", async () => {
    await asRoot(
      'test-200',
      "REVOKE ALL PRIVILEGES ON *.* FROM 'shardform'@'127.0.0.1'",
      "GRANT REPLICATION SLAVE, SLAVE MONITOR, REPLICATION SLAVE ADMIN, BINLOG ADMIN ON *.* TO 'shardform'@'127.0.0.1'",
      "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, CREATE VIEW, SHOW VIEW ON `vt\\_test\\_keyspace`.* TO 'shardform'@'127.0.0.1'",
      "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `\\_shardform`.* TO 'shardform'@'127.0.0.1'",
    )
    try {
      expect(problems(await checks())).toEqual([
        {
          id: 'admin_grants',
          target: 'test-200',
          status: 'fail',
          summary: 'shardform lacks READ_ONLY ADMIN ON *.*',
          fix: "GRANT READ_ONLY ADMIN ON *.* TO 'shardform'@'127.0.0.1';",
        },
      ])
    } finally {
      await asRoot('test-200', "GRANT ALL PRIVILEGES ON *.* TO 'shardform'@'127.0.0.1'")
    }
  })

  it('an application user that could write through read_only fails with the REVOKE', async () => {
    await asRoot('test-100', "GRANT SUPER ON *.* TO 'app'@'127.0.0.1'")
    try {
      const [p, ...rest] = problems(await checks())
      expect(rest).toEqual([])
      expect(p).toMatchObject({id: 'app_grants', target: 'test-100', status: 'fail'})
      expect(p!.summary).toContain('read_only would not stop its writes')
      expect(p!.fix).toMatch(/^REVOKE SUPER ON \*\.\* FROM 'app'@'127\.0\.0\.1';/)
    } finally {
      await asRoot('test-100', "REVOKE SUPER ON *.* FROM 'app'@'127.0.0.1'")
    }
  })

  it('a table without a primary key fails with the ALTER TABLE', async () => {
    await c.query('test-100', 'CREATE TABLE vt_test_keyspace.nopk (a INT)')
    try {
      expect(problems(await checks())).toEqual([
        expect.objectContaining({
          id: 'primary_keys',
          target: 'test-100',
          status: 'fail',
          summary: 'table(s) without a primary key in vt_test_keyspace: nopk',
          fix: expect.stringContaining('ALTER TABLE `vt_test_keyspace`.`nopk` ADD PRIMARY KEY'),
        }),
      ])
    } finally {
      await c.query('test-100', 'DROP TABLE vt_test_keyspace.nopk')
    }
  })

  it('binlog_format=STATEMENT on a source primary fails with the setting', async () => {
    await c.query('test-100', "SET GLOBAL binlog_format = 'STATEMENT'")
    try {
      expect(problems(await checks())).toEqual([
        expect.objectContaining({
          id: 'binlog_format',
          target: 'test-100',
          status: 'fail',
          fix: expect.stringMatching(/^SET GLOBAL binlog_format = 'ROW'; and binlog_format=ROW under \[mariadbd\]/),
        }),
      ])
    } finally {
      await c.query('test-100', "SET GLOBAL binlog_format = 'ROW'")
    }
  })

  it('short binlog retention warns, and fails below the estimated duration', async () => {
    await c.query(
      'test-100',
      "INSERT INTO vt_test_keyspace.messages (page, time_created_ns, message) VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c')",
    )
    await c.query('test-100', 'ANALYZE TABLE vt_test_keyspace.messages')
    await c.query('test-100', 'SET GLOBAL binlog_expire_logs_seconds = 600')
    try {
      expect(problems(await checks())).toEqual([
        expect.objectContaining({id: 'binlog_retention', target: 'test-100', status: 'warn'}),
      ])
      // At 0.001 rows/s the rows take far longer to copy than binary logs are kept.
      const [p] = problems(await checks({rowsPerSecond: 0.001}))
      expect(p).toMatchObject({
        id: 'binlog_retention',
        target: 'test-100',
        status: 'fail',
        fix: expect.stringMatching(/^SET GLOBAL binlog_expire_logs_seconds = \d+;/),
      })
      expect(p!.summary).toMatch(/^binary logs are kept 10 min but the reshard is estimated at/)
    } finally {
      await c.query('test-100', 'SET GLOBAL binlog_expire_logs_seconds = 0')
      await c.query('test-100', 'DELETE FROM vt_test_keyspace.messages')
    }
  })

  it('rows in a destination database fail with the TRUNCATE', async () => {
    const [row] = await c.query<Record<string, string>>('test-100', 'SHOW CREATE TABLE vt_test_keyspace.messages')
    const conn = await c.connect('test-300', 'admin')
    try {
      await conn.query(row!['Create Table']!)
      await conn.query("INSERT INTO messages (page, time_created_ns, message) VALUES (7, 7, 'stray')")
      expect(problems(await checks())).toEqual([
        expect.objectContaining({
          id: 'destination_empty',
          target: 'test-300',
          status: 'fail',
          fix: expect.stringContaining('TRUNCATE TABLE `vt_test_keyspace`.`messages`'),
        }),
      ])
      // An identical empty table is what copy_schema accepts.
      await conn.query('DELETE FROM messages')
      expect(problems(await checks())).toEqual([])
    } finally {
      await conn.query('DROP TABLE IF EXISTS messages').catch(() => undefined)
      await conn.end()
    }
  })
})

describe('the CLI', () => {
  let layout: string
  beforeAll(async () => {
    // The 2-shard layout with test-301 on a port nothing listens on.
    const text = readFileSync(c.layoutFiles[1]!, 'utf8')
    const port = c.tablet('test-301').port
    layout = join(c.dir, 'layouts', 'unreachable.yaml')
    const changed = text.replace(new RegExp(`port: ${port}\\b`), `port: ${await freePort()}`)
    expect(changed).not.toBe(text)
    writeFileSync(layout, changed)
  })

  it('plan prints the plan, then the checks; an unreachable tablet fails its check, the exit code is unchanged', async () => {
    const r = await cli(['plan', layout], {env: c.env})
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^Plan: 2 to create, 1 to retire/m)
    expect(r.stdout).toMatch(/^Pre-flight checks \(read-only\): 1 failed, \d+ passed\.$/m)
    expect(r.stdout).toMatch(/^ {2}FAIL {2}reachable +test-301: replica as shardform: .*ECONNREFUSED/m)
    expect(r.stdout).toMatch(/^ +fix: start the server or correct host\/port in the layout/m)
    expect((await cli(['plan', layout, '--detailed-exitcode'], {env: c.env})).code).toBe(2)
  })

  it('plan --json carries the checks, --offline skips them, and a saved plan keeps them', async () => {
    const j = JSON.parse((await cli(['plan', layout, '--json'], {env: c.env})).stdout)
    expect(j.preflight.ran).toBe(true)
    expect(j.preflight.checks).toContainEqual(
      expect.objectContaining({id: 'reachable', target: 'test-301', status: 'fail'}),
    )
    const off = await cli(['plan', layout, '--offline', '--json'], {env: c.env})
    expect(JSON.parse(off.stdout).preflight).toEqual({ran: false, skipped: '--offline', checks: []})
    const offText = await cli(['plan', layout, '--offline'], {env: c.env})
    expect(offText.stdout).toContain('Pre-flight checks: not run (--offline); apply runs them before it starts.')
    const file = join(c.dir, 'saved.plan')
    const saved = await cli(['plan', layout, '--out', file, '--json'], {env: c.env})
    const shown = await cli(['show', file, '--json'], {env: c.env})
    expect(JSON.parse(shown.stdout).preflight).toEqual(JSON.parse(saved.stdout).preflight)
    expect((await cli(['show', file], {env: c.env})).stdout).toMatch(/^ {2}FAIL {2}reachable +test-301/m)
  })

  it('apply stops on a failed check before doing anything, listing it with its fix', async () => {
    const r = await cli(['apply', layout, '--auto-approve'], {env: c.env})
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^Error: 1 pre-flight check\(s\) failed; apply did not start and changed nothing\./m)
    expect(r.stderr).toMatch(/FAIL {2}reachable +test-301/)
    expect(r.stderr).toMatch(/fix: start the server/)
    expect(await listWorkflows(c.store)).toEqual([])
  })
})
