// MySQL connections to tablets. Lossless options everywhere: big integers and DECIMAL as strings, dates as
// strings, JSON as text, binary as Buffer. mysql2 is imported lazily (CLI start-up time).
import type {Connection, ConnectionOptions, Pool, PoolOptions} from 'mysql2/promise'
import type {TabletRecord} from '../topo/records.js'
import {requirePassword} from './credentials.js'

export type Role = 'app' | 'admin'

export const LOSSLESS: ConnectionOptions = {
  supportBigNumbers: true,
  bigNumberStrings: true,
  dateStrings: true,
  jsonStrings: true,
  decimalNumbers: false,
  charset: 'utf8mb4_bin',
  timezone: 'Z',
  multipleStatements: false,
}

export function tabletOptions(t: Pick<TabletRecord, 'alias' | 'host' | 'port' | 'user' | 'passwordEnv' | 'adminUser' | 'adminPasswordEnv'>, role: Role, extra: ConnectionOptions = {}): ConnectionOptions {
  const user = role === 'admin' ? t.adminUser : t.user
  const passwordEnv = role === 'admin' ? t.adminPasswordEnv : t.passwordEnv
  return {
    ...LOSSLESS,
    host: t.host,
    port: t.port,
    user,
    password: requirePassword(passwordEnv, `${role === 'admin' ? 'the admin user' : 'user'} "${user}" of tablet ${t.alias}`),
    connectTimeout: 10_000,
    ...extra,
  }
}

export async function connectTablet(t: TabletRecord, role: Role, extra: ConnectionOptions = {}): Promise<Connection> {
  const mysql = await import('mysql2/promise')
  try {
    return await mysql.createConnection(tabletOptions(t, role, extra))
  } catch (err) {
    throw tabletError(t, err)
  }
}

export async function tabletPool(t: TabletRecord, role: Role, extra: PoolOptions = {}): Promise<Pool> {
  const mysql = await import('mysql2/promise')
  return mysql.createPool({connectionLimit: 8, waitForConnections: true, ...tabletOptions(t, role), ...extra})
}

/** Name the tablet in connection errors: "tablet test-200 (127.0.0.1:17200): connect ECONNREFUSED". */
export function tabletError(t: Pick<TabletRecord, 'alias' | 'host' | 'port'>, err: unknown): Error {
  const e = err as Error & {code?: string}
  const out = new Error(`tablet ${t.alias} (${t.host}:${t.port}): ${e.message || e.code || String(err)}`)
  ;(out as Error & {code?: string}).code = e.code
  return out
}

/** Quote an identifier for MySQL: backticks doubled. Every identifier that reaches SQL goes through this. */
export function qid(name: string): string {
  return '`' + String(name).replace(/`/g, '``') + '`'
}
