// The router's error and how it reads MySQL errors: refused before anything changed (safe to retry), connection
// lost mid-statement (outcome unknown), or a login problem (retrying will not help).
import {ShardformError} from '../errors.js'
import type {RouteTarget} from './types.js'

export type RouterErrorCode =
  /** No serving shard holds the keyspace id (for that tablet type). */
  | 'no_shard'
  /** The shard has no tablet that could serve the request. */
  | 'no_tablet'
  /** Held for the whole buffer window; the statement was never applied. */
  | 'buffer_timeout'
  /** The connection broke while the statement ran: it may or may not have been applied. */
  | 'uncertain'
  | 'closed'
  | 'unsupported'

export class RouterError extends ShardformError {
  override name = 'RouterError'
  constructor(
    override readonly code: RouterErrorCode,
    message: string,
    readonly target?: RouteTarget,
    override readonly cause?: unknown,
  ) {
    super(message, {code, cause})
  }
  /** True when the statement may have been applied (never retry it blindly). */
  get uncertain(): boolean {
    return this.code === 'uncertain'
  }
}

const READ_ONLY_ERRNOS = new Set([
  1290 /* ER_OPTION_PREVENTS_STATEMENT */, 1836 /* ER_READ_ONLY_MODE */,
  1792 /* ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION */,
])
const AUTH_ERRNOS = new Set([1044, 1045, 1049, 1698, 1227])
/** ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED, CR_SERVER_GONE_ERROR, CR_SERVER_LOST. */
const LOST_ERRNOS = new Set([1053, 1927, 2006, 2013])

/** A write refused because the server is read-only: rejected before anything changed, so safe to retry. */
export function isReadOnlyError(err: unknown): boolean {
  const e = err as {errno?: number; message?: string}
  if (!e || typeof e.errno !== 'number' || !READ_ONLY_ERRNOS.has(e.errno)) return false
  return e.errno !== 1290 || /read[-_ ]only/i.test(e.message ?? '')
}

/** The connection ended while a statement ran (killed, server gone, socket reset): its outcome is unknown. */
export function isConnectionLost(err: unknown): boolean {
  const e = err as {fatal?: boolean; errno?: number}
  return e?.fatal === true || (typeof e?.errno === 'number' && LOST_ERRNOS.has(e.errno))
}

/** A login refused (or our own error while connecting): waiting for the topology to move will not fix it. */
export function isAuthError(err: unknown): boolean {
  const e = err as {errno?: number; code?: string}
  return (typeof e?.errno === 'number' && AUTH_ERRNOS.has(e.errno)) || err instanceof ShardformError
}
