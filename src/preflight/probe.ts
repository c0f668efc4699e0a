// Read-only look at one tablet: everything the checks need, in one admin connection (and one as the application
// user on primaries). Nothing is written; a tablet that cannot be reached is a fact like any other.
import type {Connection} from 'mysql2/promise'
import {errorMessage} from '../errors.js'
import {connectTablet, qid, withConnection} from '../mysql/connect.js'
import {describeSchema, type SchemaInfo} from '../mysql/tables.js'
import {STATE_DB} from './grants.js'
import type {Variables} from './server.js'
import type {Target} from './targets.js'

export interface TabletFacts {
  alias: string
  /** Why shardform's admin user could not connect (nothing else is known then). */
  error?: string
  version?: string
  currentUser?: string
  variables: Variables
  grants: string[]
  /** Source and destination primaries of a reshard: the keyspace's database. */
  schema?: SchemaInfo
  schemaError?: string
  /** Source primaries: information_schema's row estimate of the database. */
  rows?: number
  /** Destination primaries: tables holding rows, and the mark of a shard shardform retired here. */
  nonEmpty?: string[]
  retired?: {shard: string; workflow: string}
  /** Primaries: the application user's own view of its grants (holder '' = the user, else a role it may enable). */
  app?: {error?: string; currentUser?: string; grants: Array<{line: string; holder: string}>}
}

const VARIABLES = [
  'log_bin',
  'binlog_format',
  'binlog_row_image',
  'binlog_row_metadata',
  'gtid_strict_mode',
  'log_slave_updates',
  'gtid_mode',
  'enforce_gtid_consistency',
  'binlog_expire_logs_seconds',
  'expire_logs_days',
  'local_infile',
]

type Row = Record<string, unknown>
const rowsOf = async (c: Connection, sql: string, params: unknown[] = []) =>
  ((await c.query(sql, params)) as unknown as [Row[]])[0]
const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? ''))

/** `full`: a reshard, whose primaries are also read for schema, rows and the application user's grants. */
export async function probeTablet(target: Target, full: boolean, connectTimeoutMs: number): Promise<TabletFacts> {
  const t = target.tablet
  const facts: TabletFacts = {alias: t.alias, variables: {}, grants: []}
  let conn: Connection
  try {
    conn = await connectTablet(t, 'admin', {connectTimeout: connectTimeoutMs})
  } catch (err) {
    return {...facts, error: errorMessage(err)}
  }
  const read = withConnection(conn, async (c) => {
    const [who] = await rowsOf(c, 'SELECT VERSION() AS v, CURRENT_USER() AS u')
    facts.version = text(who!.v)
    facts.currentUser = text(who!.u)
    const vars = await rowsOf(
      c,
      `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${VARIABLES.map(() => '?').join(', ')})`,
      VARIABLES,
    )
    for (const r of vars) facts.variables[text(r.Variable_name)] = text(r.Value)
    facts.grants = (await rowsOf(c, 'SHOW GRANTS')).map((r) => text(Object.values(r)[0]))
    if (!full || !target.primary || target.side === 'other') return
    try {
      facts.schema = await describeSchema(c, t.database)
      if (target.side === 'source') {
        const [n] = await rowsOf(
          c,
          "SELECT COALESCE(SUM(TABLE_ROWS), 0) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'",
          [t.database],
        )
        facts.rows = Number(text(n!.n))
      } else {
        facts.nonEmpty = []
        for (const tb of facts.schema.tables) {
          const r = await rowsOf(c, `SELECT 1 AS x FROM ${qid(t.database)}.${qid(tb.name)} LIMIT 1`)
          if (r.length) facts.nonEmpty.push(tb.name)
        }
        if (facts.nonEmpty.length) facts.retired = await retiredMark(c, t.keyspace)
      }
    } catch (err) {
      facts.schemaError = errorMessage(err)
    }
  })
  try {
    await read
  } catch (err) {
    return {...facts, error: `connected, but could not read its settings: ${errorMessage(err)}`}
  }
  if (full && target.primary && target.side !== 'other') facts.app = await probeApp(target, connectTimeoutMs)
  return facts
}

/** copy_schema's test for "rows a retired shard left here" (no table, no mark). */
async function retiredMark(c: Connection, keyspace: string): Promise<TabletFacts['retired']> {
  try {
    const [r] = await rowsOf(c, `SELECT shard, workflow FROM ${qid(STATE_DB)}.retired WHERE keyspace = ? LIMIT 1`, [
      keyspace,
    ])
    return r ? {shard: text(r.shard), workflow: text(r.workflow)} : undefined
  } catch {
    return undefined
  }
}

/** As migrate_primary does: the user's own SHOW GRANTS (no privilege needed), then again under each role it may enable. */
async function probeApp(target: Target, connectTimeoutMs: number): Promise<NonNullable<TabletFacts['app']>> {
  let conn: Connection
  try {
    conn = await connectTablet(target.tablet, 'app', {connectTimeout: connectTimeoutMs})
  } catch (err) {
    return {error: errorMessage(err), grants: []}
  }
  return withConnection(conn, async (c) => {
    const show = async (holder: string) =>
      (await rowsOf(c, 'SHOW GRANTS')).map((r) => ({line: text(Object.values(r)[0]), holder}))
    const [u] = await rowsOf(c, 'SELECT CURRENT_USER() AS u')
    const grants = await show('')
    const seen = new Set(grants.map((g) => g.line))
    const roles = await rowsOf(
      c,
      'SELECT ROLE_NAME AS r FROM information_schema.APPLICABLE_ROLES WHERE GRANTEE = CURRENT_USER()',
    )
    for (const {r} of roles) {
      await c.query(`SET ROLE ${qid(text(r))}`)
      grants.push(...(await show(text(r))).filter((g) => !seen.has(g.line)))
    }
    return {currentUser: text(u!.u), grants}
  })
}
