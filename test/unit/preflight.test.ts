// Pre-flight checks, the pure parts: grant parsing, retention math, versions, destinations, targets, rendering, and
// saved plans carrying the results.
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {loadPlanFile, plan, savePlan, type PreflightReport} from '../../src/plan/index.js'
import {estimateReshard} from '../../src/preflight/estimate.js'
import {checkAdminGrants, checkAppGrants, dbPatternMatches, holds, parseGrant} from '../../src/preflight/grants.js'
import {renderPreflightText} from '../../src/preflight/render.js'
import {checkDestination} from '../../src/preflight/schema.js'
import {
  checkBinlog,
  checkRetention,
  checkVersion,
  checkVersionsMatch,
  retentionSeconds,
} from '../../src/preflight/server.js'
import {planTargets} from '../../src/preflight/targets.js'
import {colors} from '../../src/util/color.js'
import {guestbook, stateOf} from '../helpers/state.js'

const DB = 'vt_test_keyspace'
const TO = ' TO `shardform`@`127.0.0.1`'
const README_GRANTS = [
  `GRANT REPLICATION SLAVE, SLAVE MONITOR, REPLICATION SLAVE ADMIN, READ_ONLY ADMIN, BINLOG ADMIN ON *.*${TO} IDENTIFIED BY PASSWORD '*ABC'`,
  `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, CREATE VIEW, SHOW VIEW ON \`vt\\_test\\_keyspace\`.*${TO}`,
  `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON \`\\_shardform\`.*${TO}`,
]

describe('grant parsing', () => {
  it('reads privileges and the database of SHOW GRANTS lines; column grants, USAGE and roles grant nothing here', () => {
    expect(parseGrant(README_GRANTS[1]!)).toEqual({
      privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'CREATE VIEW', 'SHOW VIEW'],
      db: 'vt\\_test\\_keyspace',
      table: '*',
    })
    expect(parseGrant(`GRANT ALL PRIVILEGES ON *.*${TO} WITH GRANT OPTION`)).toEqual({
      privileges: ['ALL PRIVILEGES'],
      db: '*',
      table: '*',
    })
    expect(parseGrant(`GRANT SELECT (a, b), INSERT ON \`d\`.\`t\`${TO}`)).toEqual({
      privileges: ['INSERT'],
      db: 'd',
      table: 't',
    })
    expect(parseGrant(`GRANT USAGE ON *.*${TO}`)).toBeUndefined()
    expect(parseGrant('GRANT `app_role` TO `app`@`%`')).toBeUndefined()
    expect(parseGrant(`GRANT REPLICATION REPLICA, READ ONLY ADMIN ON *.*${TO}`)?.privileges).toEqual([
      'REPLICATION SLAVE',
      'READ_ONLY ADMIN',
    ])
  })

  it('matches database patterns as GRANT does: escaped _ is literal, _ and % are wildcards', () => {
    expect(dbPatternMatches('vt\\_test\\_keyspace', 'vt_test_keyspace')).toBe(true)
    expect(dbPatternMatches('vt\\_test\\_keyspace', 'vtXtest_keyspace')).toBe(false)
    expect(dbPatternMatches('vt_test_keyspace', 'vtXtestXkeyspace')).toBe(true)
    expect(dbPatternMatches('vt%', 'vt_anything')).toBe(true)
    expect(dbPatternMatches('other', DB)).toBe(false)
    const g = [parseGrant(`GRANT SELECT ON \`d\`.\`t\`${TO}`)!]
    expect(holds(g, 'SELECT', 'd')).toBe(false) // a table grant does not cover the database
  })
})

describe('admin grants', () => {
  const check = (grants: string[]) =>
    checkAdminGrants({alias: 't-1', user: 'shardform', currentUser: 'shardform@127.0.0.1', grants}, DB)

  it('pass with ALL PRIVILEGES and with exactly the README list', () => {
    expect(check([`GRANT ALL PRIVILEGES ON *.*${TO}`]).status).toBe('pass')
    expect(check(README_GRANTS).status).toBe('pass')
  })

  it('fail naming each missing privilege, with the GRANT that fixes it', () => {
    const c = check([README_GRANTS[0]!.replace('READ_ONLY ADMIN, ', ''), README_GRANTS[1]!.replace('INSERT, ', '')])
    expect(c.status).toBe('fail')
    expect(c.summary).toContain('READ_ONLY ADMIN ON *.*')
    expect(c.fix).toBe(
      "GRANT READ_ONLY ADMIN ON *.* TO 'shardform'@'127.0.0.1'; GRANT INSERT ON `vt\\_test\\_keyspace`.* TO 'shardform'@'127.0.0.1'; " +
        "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `\\_shardform`.* TO 'shardform'@'127.0.0.1';",
    )
  })

  it('only warn without what has a fallback (SLAVE MONITOR, REPLICATION SLAVE ADMIN, BINLOG ADMIN)', () => {
    const c = check([`GRANT REPLICATION SLAVE, READ_ONLY ADMIN ON *.*${TO}`, README_GRANTS[1]!, README_GRANTS[2]!])
    expect(c.status).toBe('warn')
    expect(c.fix).toBe("GRANT SLAVE MONITOR, REPLICATION SLAVE ADMIN, BINLOG ADMIN ON *.* TO 'shardform'@'127.0.0.1';")
  })
})

describe('application user grants', () => {
  const app = (grants: Array<{line: string; holder: string}>) =>
    checkAppGrants({alias: 't-1', user: 'app', currentUser: 'app@127.0.0.1', grants}, DB)
  const dml = {
    line: 'GRANT SELECT, INSERT, UPDATE, DELETE ON `vt\\_test\\_keyspace`.* TO `app`@`127.0.0.1`',
    holder: '',
  }

  it('pass with privileges on its database only', () => {
    expect(app([dml]).status).toBe('pass')
  })

  it('fail when read_only would not stop it, directly or through a role, with the REVOKE', () => {
    const direct = app([dml, {line: 'GRANT SUPER ON *.* TO `app`@`127.0.0.1`', holder: ''}])
    expect(direct.status).toBe('fail')
    expect(direct.fix).toMatch(/^REVOKE SUPER ON \*\.\* FROM 'app'@'127\.0\.0\.1';/)
    const role = app([dml, {line: 'GRANT READ_ONLY ADMIN ON *.* TO `ops`', holder: 'ops'}])
    expect(role.status).toBe('fail')
    expect(role.summary).toContain('through role ops')
    expect(role.fix).toMatch(/^REVOKE READ_ONLY ADMIN ON \*\.\* FROM `ops`;/)
  })

  it('warn when it cannot work on its database', () => {
    const c = app([{line: 'GRANT SELECT ON `vt\\_test\\_keyspace`.* TO `app`@`127.0.0.1`', holder: ''}])
    expect(c.status).toBe('warn')
    expect(c.fix).toBe("GRANT INSERT, UPDATE, DELETE ON `vt\\_test\\_keyspace`.* TO 'app'@'127.0.0.1';")
  })
})

describe('binlog retention against the estimate', () => {
  it('reads binlog_expire_logs_seconds, else expire_logs_days; 0 is never', () => {
    expect(retentionSeconds({binlog_expire_logs_seconds: '3600', expire_logs_days: '0.041667'})).toBe(3600)
    expect(retentionSeconds({binlog_expire_logs_seconds: '0', expire_logs_days: '2'})).toBe(172800)
    expect(retentionSeconds({binlog_expire_logs_seconds: '0', expire_logs_days: '0'})).toBe(0)
  })

  it('estimates at the copy rate', () => {
    expect(estimateReshard(1_000_000)).toEqual({rows: 1_000_000, rows_per_second: 100_000, seconds: 10})
    expect(estimateReshard(1, 100_000).seconds).toBe(1)
  })

  it('fails below the estimate, warns below twice it or a day, passes above; 0 passes', () => {
    expect(checkRetention('t', 3600, 7200).status).toBe('fail')
    expect(checkRetention('t', 3600, 7200).fix).toBe(
      'SET GLOBAL binlog_expire_logs_seconds = 86400; and binlog_expire_logs_seconds=86400 in my.cnf',
    )
    expect(checkRetention('t', 3600, 60).status).toBe('warn')
    expect(checkRetention('t', 86400, 60000).status).toBe('warn')
    expect(checkRetention('t', 86400 * 2, 60000).status).toBe('pass')
    expect(checkRetention('t', 0, 10 ** 9).status).toBe('pass')
  })
})

describe('server settings and versions', () => {
  const good = {
    log_bin: 'ON',
    binlog_format: 'ROW',
    binlog_row_image: 'FULL',
    binlog_row_metadata: 'FULL',
    gtid_strict_mode: 'ON',
    log_slave_updates: 'ON',
  }
  it('pass a ROW/FULL binlog with strict GTIDs; each wrong setting names its fix', () => {
    expect(checkBinlog('t', good, 'MariaDB').every((c) => c.status === 'pass')).toBe(true)
    const bad = checkBinlog('t', {...good, binlog_format: 'STATEMENT', gtid_strict_mode: 'OFF'}, 'MariaDB')
    expect(bad.find((c) => c.id === 'binlog_format')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining("SET GLOBAL binlog_format = 'ROW'"),
    })
    expect(bad.find((c) => c.id === 'gtid')).toMatchObject({status: 'warn'})
    expect(checkBinlog('t', {...good, log_bin: 'OFF'}, 'MariaDB')).toEqual([
      expect.objectContaining({id: 'log_bin', status: 'fail', fix: expect.stringContaining('restart')}),
    ])
  })

  it('accept MariaDB ≥ 10.6 and MySQL 8; warn on mixed versions, fail on mixed flavors', () => {
    expect(checkVersion('t', '10.11.19-MariaDB-0+deb12u1').status).toBe('pass')
    expect(checkVersion('t', '10.5.2-MariaDB').status).toBe('fail')
    expect(checkVersion('t', '8.0.36').status).toBe('pass')
    expect(checkVersion('t', '5.7.44').status).toBe('fail')
    expect(
      checkVersionsMatch([
        {alias: 'a', text: '10.11.19-MariaDB'},
        {alias: 'b', text: '10.6.3-MariaDB'},
      ])?.status,
    ).toBe('warn')
    expect(
      checkVersionsMatch([
        {alias: 'a', text: '10.11.19-MariaDB'},
        {alias: 'b', text: '8.0.36'},
      ])?.status,
    ).toBe('fail')
  })
})

describe('destinations', () => {
  const table = (name: string, create = `CREATE TABLE ${name} (id int PRIMARY KEY)`) => ({
    name,
    columns: [],
    primaryKey: ['id'],
    create,
  })
  const schema = (...tables: ReturnType<typeof table>[]) => ({tables, views: [], triggers: []})

  it('pass empty or with identical empty tables; fail on rows or a different table; warn on a retired shard', () => {
    const src = schema(table('messages'))
    expect(checkDestination({alias: 'd', schema: schema(), nonEmpty: []}, DB, src).status).toBe('pass')
    expect(checkDestination({alias: 'd', schema: schema(table('messages')), nonEmpty: []}, DB, src).status).toBe('pass')
    const rows = checkDestination({alias: 'd', schema: schema(table('messages')), nonEmpty: ['messages']}, DB, src)
    expect(rows).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('TRUNCATE TABLE `vt_test_keyspace`.`messages`'),
    })
    const retired = {shard: '-80', workflow: 'wf-1'}
    expect(
      checkDestination({alias: 'd', schema: schema(table('messages')), nonEmpty: ['messages'], retired}, DB, src)
        .status,
    ).toBe('warn')
    const other = checkDestination(
      {alias: 'd', schema: schema(table('messages', 'CREATE TABLE x')), nonEmpty: []},
      DB,
      src,
    )
    expect(other).toMatchObject({status: 'fail', fix: expect.stringContaining('DROP TABLE')})
  })
})

describe('targets', () => {
  it('a split checks the source shard from the topology and the destinations from the plan', () => {
    const state = stateOf(guestbook('1-shard.yaml'))
    const p = plan(state, guestbook('2-shards.yaml'))
    const t = planTargets(p, state)
    expect(t.map((x) => `${x.tablet.alias}:${x.side}:${x.primary ? 'p' : '-'}`)).toEqual([
      'test-100:source:p',
      'test-101:source:-',
      'test-102:source:-',
      'test-200:destination:p',
      'test-201:destination:-',
      'test-202:destination:-',
      'test-300:destination:p',
      'test-301:destination:-',
      'test-302:destination:-',
    ])
    expect(t.find((x) => x.tablet.alias === 'test-300')!.schemaFrom).toBe('0')
  })
})

const report: PreflightReport = {
  ran: true,
  checks: [
    {id: 'reachable', target: 'a', status: 'pass', summary: 'ok'},
    {id: 'reachable', target: 'b', status: 'fail', summary: 'ECONNREFUSED', fix: 'start it'},
    {id: 'gtid', target: 'a', status: 'warn', summary: 'gtid_strict_mode off', fix: 'SET GLOBAL gtid_strict_mode = 1'},
  ],
}

describe('rendering', () => {
  it('shows failures and warnings with their fixes and folds passes', () => {
    const text = renderPreflightText(report, colors(false))
    expect(text).toMatch(/^Pre-flight checks \(read-only\): 1 failed, 1 warning, 1 passed\.$/m)
    expect(text).toMatch(/^ {2}FAIL {2}reachable +b: ECONNREFUSED\n +fix: start it$/m)
    expect(text).toMatch(/^ {2}WARN {2}gtid +a: gtid_strict_mode off$/m)
    expect(text).toMatch(/^ {2}ok {4}reachable +a$/m)
    expect(text).toContain('apply refuses to start while a check fails')
    expect(renderPreflightText(report, colors(false), {brief: true})).not.toMatch(/ok {4}reachable/)
    expect(renderPreflightText({ran: false, skipped: '--offline', checks: []}, colors(false))).toBe(
      'Pre-flight checks: not run (--offline); apply runs them before it starts.\n',
    )
  })

  it('fold a long list of passed targets', () => {
    const many: PreflightReport = {
      ran: true,
      checks: Array.from({length: 20}, (_, i) => ({
        id: 'reachable',
        target: `t-${i}`,
        status: 'pass' as const,
        summary: 'ok',
      })),
    }
    expect(renderPreflightText(many, colors(false))).toMatch(/^ {2}ok {4}reachable {2}t-0, .*, t-9, … \(20 in all\)$/m)
  })

  it('escape control characters quoted from servers', () => {
    const text = renderPreflightText(
      {ran: true, checks: [{id: 'x', target: 't', status: 'fail', summary: 'bad\u001b[2Jname'}]},
      colors(false),
    )
    expect(text).not.toContain('\u001b')
  })
})

describe('saved plans keep the results', () => {
  it('round-trip, and an edit of the results is refused by the checksum', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sf-preflight-'))
    const state = stateOf(guestbook('1-shard.yaml'))
    const p = plan(state, guestbook('2-shards.yaml'))
    const file = join(dir, 'p.plan')
    savePlan(file, p, state, report)
    expect(loadPlanFile(file).preflight).toEqual(report)
    const edited = JSON.parse(readFileSync(file, 'utf8'))
    edited.preflight.checks[1].status = 'pass'
    writeFileSync(file, JSON.stringify(edited))
    expect(() => loadPlanFile(file)).toThrow(/checksum mismatch/)
  })
})
