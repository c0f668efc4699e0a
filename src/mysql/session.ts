// Session settings for the data plane's connections: the same on every side, so values mean the same thing.
import {format, type Connection, type ConnectionOptions} from 'mysql2/promise'
import type {TabletRecord} from '../topo/records.js'
import {connectTablet, LOSSLESS} from './connect.js'

/** Non-strict, no auto-increment surprises on 0, no backslash quirks: replay rows as they are. */
const SQL_MODE = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'

/**
 * mysql2's own formatting (with the sessions' time zone), except that a statement without values goes out as it
 * is: mysql2 scans every byte of it for a `?` first (3% of the catch-up's Node time, on batches of megabytes). Its
 * type says void; mysql2 sends what it returns.
 */
const queryFormat = ((sql: string, values: unknown): string => {
  if (values === undefined || values === null || (Array.isArray(values) && values.length === 0)) return sql
  return format(sql, values as never, false, LOSSLESS.timezone)
}) as unknown as ConnectionOptions['queryFormat']

export type SessionKind = 'copy' | 'apply' | 'read'

/**
 * copy: binary charset (raw bytes both ways, for SELECT and LOAD DATA); apply: utf8mb4 with multi-statement
 * batches (filtered replication); read: binary charset reads (diff, snapshots).
 */
export async function dataSession(
  t: TabletRecord,
  kind: SessionKind,
  extra: ConnectionOptions = {},
): Promise<Connection> {
  const conn = await connectTablet(t, 'admin', {
    ...(kind === 'apply' ? {multipleStatements: true, queryFormat} : {charset: 'BINARY'}),
    ...extra,
  })
  await conn.query(`SET SESSION time_zone = '+00:00', SESSION sql_mode = '${SQL_MODE}', SESSION foreign_key_checks = 0`)
  return conn
}
