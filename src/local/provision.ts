// Provisioning an instance of the local cluster: checking the tablets, the data directory (a copy of the template
// made once by mariadb-install-db; my.cnf is written at start), and the users and database on it.
import {existsSync} from 'node:fs'
import {rm} from 'node:fs/promises'
import {join} from 'node:path'
import type {Connection} from 'mysql2/promise'
import {ShardformError} from '../errors.js'
import {qid} from '../mysql/connect.js'
import {copyTemplate, ensureTemplate, type MariaDBBinaries} from './mariadb.js'
import type {ClusterTablet} from './tablets.js'

export const DEFAULT_APP_USER = 'app'
export const DEFAULT_ADMIN_USER = 'shardform'
export const REPL_USER = 'shardform_repl'

/**
 * What the application user may do: DML and DDL on its database, nothing global. Without READ ONLY ADMIN (or
 * SUPER), `SET GLOBAL read_only=1` stops its writes — the write freeze of a cutover depends on that.
 */
export const APP_PRIVILEGES = [
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'DROP',
  'INDEX',
  'ALTER',
  'CREATE VIEW',
  'SHOW VIEW',
  'LOCK TABLES',
  'CREATE TEMPORARY TABLES',
] as const

/** Users and passwords of the cluster; a tablet's own user or password variable comes first. */
export interface ClusterCredentials {
  appUser?: string
  adminUser?: string
  /** Values of the password variables the tablets name (passwordEnv, adminPasswordEnv). */
  passwords?: Record<string, string>
  /** Passwords of tablets whose variable is not in `passwords` (default: empty). */
  appPassword?: string
  adminPassword?: string
  /** Password of the replication user shardform_repl (same on every instance). */
  replPassword: string
}

function usersOf(t: ClusterTablet, c: Omit<ClusterCredentials, 'replPassword'>): {app: string; admin: string} {
  return {app: t.user ?? c.appUser ?? DEFAULT_APP_USER, admin: t.adminUser ?? c.adminUser ?? DEFAULT_ADMIN_USER}
}

function password(env: string | undefined, c: ClusterCredentials, fallback: string | undefined): string {
  return (env === undefined ? undefined : c.passwords?.[env]) ?? fallback ?? ''
}

function isLoopback(host: string | undefined): boolean {
  return host === undefined || host === '127.0.0.1' || host === 'localhost'
}

/** Loopback only, aliases that name folders, one port and one alias per tablet, three distinct users. */
export function checkTablets(tablets: ClusterTablet[], c: Omit<ClusterCredentials, 'replPassword'>): void {
  const aliases = new Set<string>()
  const ports = new Map<number, string>()
  for (const t of tablets) {
    if (!isLoopback(t.host)) {
      throw new ShardformError(
        `tablet ${t.alias} is declared on host ${t.host}; the local cluster runs on 127.0.0.1 only (set host: 127.0.0.1 in the layout)`,
      )
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(t.alias))
      throw new ShardformError(`tablet alias "${t.alias}" cannot name a folder; use letters, digits, "-", "_" and "."`)
    if (aliases.has(t.alias)) throw new ShardformError(`tablet ${t.alias} is listed twice`)
    aliases.add(t.alias)
    const other = ports.get(t.port)
    if (other)
      throw new ShardformError(`tablets ${other} and ${t.alias} both use port ${t.port}; give each tablet its own port`)
    ports.set(t.port, t.alias)
    const {app, admin} = usersOf(t, c)
    if (app === admin || app === REPL_USER || admin === REPL_USER || app === 'root' || admin === 'root') {
      throw new ShardformError(
        `tablet ${t.alias}: the application user (${app}), shardform's admin user (${admin}) and ${REPL_USER} must be different users, and none may be root`,
      )
    }
  }
}

/** The pristine data directory to copy (made once, in `templateDir`). */
export async function prepareTemplate(
  templateDir: string,
  bins: MariaDBBinaries,
  say: (line: string) => void,
): Promise<string> {
  if (!existsSync(join(templateDir, 'READY')))
    say(`Preparing a template data directory in ${templateDir} (mariadb-install-db, once)…`)
  return ensureTemplate(templateDir, bins)
}

/** A new instance's data directory: a fresh copy of the template. */
export async function provisionDatadir(templateData: string, datadir: string): Promise<void> {
  await rm(datadir, {recursive: true, force: true})
  await copyTemplate(templateData, datadir)
}

/** MariaDB GRANT treats `_` and `%` in database names as wildcards: escape them to grant on exactly one. */
function grantDb(db: string): string {
  return qid(db.replace(/([_%\\])/g, '\\$1'))
}

/** Users and database on one instance, idempotent, kept out of the binlog (gtid_strict_mode + replicas). */
export async function setupInstance(conn: Connection, t: ClusterTablet, c: ClusterCredentials): Promise<void> {
  const {app, admin} = usersOf(t, c)
  const appPw = password(t.passwordEnv, c, c.appPassword)
  const adminPw = password(t.adminPasswordEnv, c, c.adminPassword)
  const host = "'127.0.0.1'"
  const user = (u: string) => `${conn.escape(u)}@${host}`
  await conn.query('SET SESSION sql_log_bin=0')
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${qid(t.database)}`)
  for (const [u, pw] of [
    [app, appPw],
    [admin, adminPw],
    [REPL_USER, c.replPassword],
  ] as const) {
    await conn.query(`CREATE USER IF NOT EXISTS ${user(u)} IDENTIFIED BY ?`, [pw])
    await conn.query(`ALTER USER ${user(u)} IDENTIFIED BY ?`, [pw])
  }
  await conn.query(`GRANT ${APP_PRIVILEGES.join(', ')} ON ${grantDb(t.database)}.* TO ${user(app)}`)
  await conn.query(`GRANT ALL PRIVILEGES ON *.* TO ${user(admin)}`)
  await conn.query(`GRANT REPLICATION SLAVE ON *.* TO ${user(REPL_USER)}`)
}
