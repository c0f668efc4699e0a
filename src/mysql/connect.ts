// MySQL connections to tablets. Lossless options everywhere: big integers and DECIMAL as strings, dates as
// strings, JSON as text, binary as Buffer. mysql2 is imported lazily (CLI start-up time).
import {readFileSync} from 'node:fs'
import {isIP} from 'node:net'
import type {Connection, ConnectionOptions, Pool, PoolOptions, SslOptions} from 'mysql2/promise'
import {ShardformError} from '../errors.js'
import type {TabletRecord, TlsFiles} from '../topo/records.js'
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

export type TabletAccess = Pick<
  TabletRecord,
  'alias' | 'host' | 'port' | 'user' | 'passwordEnv' | 'adminUser' | 'adminPasswordEnv' | 'tls'
>

/** Options of a connection to a tablet: every connection (mysql2, pools, the binlog reader) is made from these. */
export function tabletOptions(t: TabletAccess, role: Role, extra: ConnectionOptions = {}): ConnectionOptions {
  const user = role === 'admin' ? t.adminUser : t.user
  const passwordEnv = role === 'admin' ? t.adminPasswordEnv : t.passwordEnv
  const ssl = tlsOptions(t)
  return {
    ...LOSSLESS,
    host: t.host,
    port: t.port,
    user,
    password: requirePassword(
      passwordEnv,
      `${role === 'admin' ? 'the admin user' : 'user'} "${user}" of tablet ${t.alias}`,
    ),
    connectTimeout: 10_000,
    ...(ssl ? {ssl} : {}),
    ...extra,
  }
}

/**
 * mysql2's TLS options for a tablet whose record names TLS files: the files are read now (never stored anywhere).
 * Unless the layout says `verifyServerCert: false`, the server certificate must be signed by the CA and — for a
 * tablet addressed by a DNS name — name that host (like MySQL's --ssl-mode=VERIFY_IDENTITY). For a tablet addressed
 * by an IP address only the chain is checked: mysql2 does not pass an IP to the TLS layer, which would then check the
 * certificate against "localhost" instead. Undefined without `tls`.
 */
export function tlsOptions(t: Pick<TabletRecord, 'alias' | 'host' | 'tls'>): SslOptions | undefined {
  const tls: TlsFiles | undefined = t.tls
  if (!tls) return undefined
  const read = (what: string, file: string): Buffer => {
    try {
      const data = readFileSync(file)
      if (data.length === 0) throw Object.assign(new Error('the file is empty'), {code: 'EMPTY'})
      return data
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      const why =
        code === 'ENOENT'
          ? 'no such file'
          : code === 'EACCES'
            ? 'permission denied'
            : code === 'EISDIR'
              ? 'is a directory'
              : (err as Error).message
      throw new ShardformError(
        `tablet ${t.alias}: cannot read the TLS ${what} ${file}: ${why}. Fix the path under tls: in the layout (defaults or the tablet) and apply it, or make the file readable.`,
      )
    }
  }
  return {
    ...(tls.ca ? {ca: read('CA certificate', tls.ca)} : {}),
    ...(tls.cert ? {cert: read('client certificate', tls.cert)} : {}),
    ...(tls.key ? {key: read('client key', tls.key)} : {}),
    rejectUnauthorized: tls.verifyServerCert ?? true,
    verifyIdentity: (tls.verifyServerCert ?? true) && isIP(t.host) === 0,
  }
}

export async function connectTablet(t: TabletRecord, role: Role, extra: ConnectionOptions = {}): Promise<Connection> {
  const mysql = await import('mysql2/promise')
  // Outside the try: a missing password, an open credentials file or an unreadable TLS file is said as it is.
  const options = tabletOptions(t, role, extra)
  try {
    return await mysql.createConnection(options)
  } catch (err) {
    throw tabletError(t, err)
  }
}

/** `fn` on a new connection to the tablet, closed afterwards whatever happens. */
export async function withTablet<T>(t: TabletRecord, role: Role, fn: (c: Connection) => Promise<T>): Promise<T> {
  return withConnection(await connectTablet(t, role), fn)
}

/** `fn` on `c`, which is closed afterwards whatever happens (a failing close is not the caller's error). */
export async function withConnection<T>(c: Connection, fn: (c: Connection) => Promise<T>): Promise<T> {
  try {
    return await fn(c)
  } finally {
    await c.end().catch(() => undefined)
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

/** Error codes of a connection that broke or could not be made: the server is down or unreachable. */
const CONNECTION_LOST = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
])

/** Did `err` come from a connection that broke or could not be made (rather than from a bad request)? */
export function isConnectionLost(err: unknown): boolean {
  const code = (err as {code?: unknown})?.code
  return typeof code === 'string' && CONNECTION_LOST.has(code)
}

/** A tabletError's message without its "tablet X (host:port): " prefix, for a caller that names the tablet itself. */
export function withoutTabletPrefix(message: string): string {
  return message.replace(/^tablet [^\s:]+(?: \([^)]*\))?:\s*/, '').replace(/\.\s*$/, '')
}

/** Quote an identifier for MySQL: backticks doubled. Every identifier that reaches SQL goes through this. */
export function qid(name: string): string {
  return '`' + String(name).replace(/`/g, '``') + '`'
}
