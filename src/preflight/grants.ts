// The privileges README.md ("MySQL grants") lists, read from SHOW GRANTS. Names are MariaDB's; SHOW GRANTS prints
// them in their canonical spelling, synonyms are mapped to it anyway.
import type {PreflightCheck} from '../plan/types.js'

export interface Grant {
  privileges: string[]
  /** Database pattern as GRANT stores it (`_` and `%` are wildcards unless escaped); '*' = every database. */
  db: string
  /** '*' for a grant on the whole database; a table name otherwise. */
  table: string
}

const SYNONYMS: Record<string, string> = {
  ALL: 'ALL PRIVILEGES',
  'REPLICATION REPLICA': 'REPLICATION SLAVE',
  'REPLICA MONITOR': 'SLAVE MONITOR',
  'REPLICATION REPLICA ADMIN': 'REPLICATION SLAVE ADMIN',
  'READ ONLY ADMIN': 'READ_ONLY ADMIN',
}

const unquote = (s: string) => (s.startsWith('`') && s.endsWith('`') ? s.slice(1, -1).replace(/``/g, '`') : s)

/** Split on `sep` outside backticks, quotes and parentheses. */
function splitTop(text: string, sep: string): string[] {
  const out: string[] = []
  let depth = 0
  let quote = ''
  let cur = ''
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = ''
    } else if (ch === '`' || ch === "'" || ch === '"') quote = ch
    else if (ch === '(') depth++
    else if (ch === ')') depth--
    else if (ch === sep && depth === 0) {
      out.push(cur)
      cur = ''
      continue
    }
    cur += ch
  }
  out.push(cur)
  return out.map((s) => s.trim())
}

/** One line of SHOW GRANTS; undefined for what grants no privilege on a database (roles, PROXY, USAGE only). */
export function parseGrant(line: string): Grant | undefined {
  const m = /^GRANT\s+(.+?)\s+ON\s+((?:`(?:[^`]|``)*`|[^\s.`]+)\.(?:`(?:[^`]|``)*`|[^\s`]+))\s+TO\s/i.exec(line)
  if (!m) return undefined
  const [db, table] = splitTop(m[2]!, '.')
  const privileges = splitTop(m[1]!, ',')
    // A column grant ("SELECT (a, b)") does not cover the table.
    .filter((p) => !p.includes('('))
    .map((p) => p.toUpperCase().replace(/\s+/g, ' '))
    .map((p) => SYNONYMS[p] ?? p)
    .filter((p) => p !== 'USAGE' && p !== 'PROXY')
  if (!privileges.length) return undefined
  return {privileges, db: unquote(db!), table: unquote(table!)}
}

/** Does a GRANT's database pattern name `db`? (`\_` is a literal underscore, `_` any character, `%` any run.) */
export function dbPatternMatches(pattern: string, db: string): boolean {
  if (pattern === '*') return true
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    else if (c === '_') re += '.'
    else if (c === '%') re += '.*'
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`, 's').test(db)
}

/** Is `privilege` held globally, or (with `db`) on that whole database? */
export function holds(grants: Grant[], privilege: string, db?: string): boolean {
  return grants.some(
    (g) =>
      (g.privileges.includes(privilege) || g.privileges.includes('ALL PRIVILEGES')) &&
      ((g.db === '*' && g.table === '*') || (db !== undefined && g.table === '*' && dbPatternMatches(g.db, db))),
  )
}

/** Fail without these (filtered replication; writing on read-only destinations, the cutover). */
export const ADMIN_GLOBAL_REQUIRED = ['REPLICATION SLAVE', 'READ_ONLY ADMIN']
/** Warn without these: the clone falls back to a snapshot on the primary; the retired mark is best effort. */
export const ADMIN_GLOBAL_OPTIONAL = ['SLAVE MONITOR', 'REPLICATION SLAVE ADMIN', 'BINLOG ADMIN']
export const ADMIN_DB_PRIVILEGES = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'DROP',
  'CREATE VIEW',
  'SHOW VIEW',
]
export const STATE_DB = '_shardform'
export const ADMIN_STATE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE']
/** What the application needs at least; more is its business, but never what read_only does not stop. */
export const APP_DB_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE']
export const APP_FORBIDDEN = ['ALL PRIVILEGES', 'SUPER', 'READ_ONLY ADMIN']

/** `user@host` (CURRENT_USER()) as a GRANT names it: 'user'@'host'. */
export function accountName(currentUser: string | undefined, fallbackUser: string): string {
  const at = currentUser?.lastIndexOf('@') ?? -1
  const [user, host] =
    currentUser && at > 0 ? [currentUser.slice(0, at), currentUser.slice(at + 1)] : [fallbackUser, '%']
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
  return `${q(user)}@${q(host)}`
}

/** A database name for a GRANT: quoted, wildcards escaped so it names exactly that database. */
export const grantDb = (db: string) => '`' + db.replace(/([_%\\])/g, '\\$1').replace(/`/g, '``') + '`'

export interface AdminGrantFacts {
  alias: string
  user: string
  currentUser?: string
  grants: string[]
}

/** shardform's admin user holds what README.md lists, on this tablet. */
export function checkAdminGrants(f: AdminGrantFacts, database: string): PreflightCheck {
  const grants = f.grants.map(parseGrant).filter((g): g is Grant => !!g)
  const missing = (list: string[], db?: string) => list.filter((p) => !holds(grants, p, db))
  const globalFail = missing(ADMIN_GLOBAL_REQUIRED)
  const globalWarn = missing(ADMIN_GLOBAL_OPTIONAL)
  const dbMissing = missing(ADMIN_DB_PRIVILEGES, database)
  const stateMissing = missing(ADMIN_STATE_PRIVILEGES, STATE_DB)
  const base = {id: 'admin_grants', target: f.alias}
  if (!globalFail.length && !globalWarn.length && !dbMissing.length && !stateMissing.length)
    return {...base, status: 'pass', summary: `${f.user} holds every privilege the README lists`}
  const account = accountName(f.currentUser, f.user)
  const parts: Array<[string[], string]> = [
    [[...globalFail, ...globalWarn], '*.*'],
    [dbMissing, `${grantDb(database)}.*`],
    [stateMissing, `${grantDb(STATE_DB)}.*`],
  ]
  const present = parts.filter(([p]) => p.length)
  const fail = globalFail.length + dbMissing.length + stateMissing.length > 0
  const why = fail
    ? ''
    : ' (without them a clone snapshots on the primary instead of the rdonly, and retired servers are not marked)'
  return {
    ...base,
    status: fail ? 'fail' : 'warn',
    summary: `${f.user} lacks ${present.map(([p, on]) => `${p.join(', ')} ON ${on}`).join('; ')}${why}`,
    fix: present.map(([p, on]) => `GRANT ${p.join(', ')} ON ${on} TO ${account};`).join(' '),
  }
}

export interface AppGrantFacts {
  alias: string
  user: string
  currentUser?: string
  /** SHOW GRANTS of the user, then of each role it may enable (SET ROLE), each line with who holds it. */
  grants: Array<{line: string; holder: string}>
}

/** The application user can work on its database and cannot write through read_only (the cutover's freeze). */
export function checkAppGrants(f: AppGrantFacts, database: string): PreflightCheck {
  const base = {id: 'app_grants', target: f.alias}
  const strong = f.grants.flatMap(({line, holder}) => {
    const g = parseGrant(line)
    if (!g || g.db !== '*') return []
    const bad = g.privileges.filter((p) => APP_FORBIDDEN.includes(p))
    return bad.length ? [{holder, privileges: bad}] : []
  })
  const account = accountName(f.currentUser, f.user)
  if (strong.length) {
    const byHolder = new Map<string, Set<string>>()
    for (const s of strong)
      for (const p of s.privileges) byHolder.set(s.holder, (byHolder.get(s.holder) ?? new Set()).add(p))
    const who = (h: string) => (h === '' ? account : `role ${h}`)
    return {
      ...base,
      status: 'fail',
      summary: `the application user ${f.user} holds ${[...byHolder].map(([h, ps]) => `${[...ps].join(', ')} ON *.*${h ? ` through role ${h}` : ''}`).join('; ')}: read_only would not stop its writes at the cutover`,
      fix:
        [...byHolder]
          .map(
            ([h, ps]) =>
              `REVOKE ${[...ps].join(', ')} ON *.* FROM ${h === '' ? account : `\`${h.replace(/`/g, '``')}\``};`,
          )
          .join(' ') + ` GRANT ${APP_DB_PRIVILEGES.join(', ')} ON ${grantDb(database)}.* TO ${who('')};`,
    }
  }
  const parsed = f.grants.map((g) => parseGrant(g.line)).filter((g): g is Grant => !!g)
  const lacking = APP_DB_PRIVILEGES.filter((p) => !holds(parsed, p, database))
  if (lacking.length)
    return {
      ...base,
      status: 'warn',
      summary: `the application user ${f.user} lacks ${lacking.join(', ')} on ${database}: the application cannot use the new shards`,
      fix: `GRANT ${lacking.join(', ')} ON ${grantDb(database)}.* TO ${account};`,
    }
  return {...base, status: 'pass', summary: `${f.user} works on ${database} and read_only stops its writes`}
}
