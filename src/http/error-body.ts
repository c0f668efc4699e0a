// Every error the API answers with: {error: {code, message, hint?}} and a status that says what kind it is; never a
// stack, and for errors we did not foresee not even their text (it is logged by the server instead).
import type {FastifyError} from 'fastify'
import {isErrorCode, ShardformError} from '../errors.js'
import {HttpError} from './errors.js'

export interface ErrorBody {
  error: {code: string; message: string; hint?: string}
}

export function errorBody(err: unknown): {status: number; body: ErrorBody} {
  const hint = (e: ShardformError) => (e.hint ? {hint: e.hint} : {})
  if (err instanceof HttpError)
    return {
      status: err.status,
      body: {error: {code: err.code.replace(/^http\./, ''), message: err.summary, ...hint(err)}},
    }
  if (err instanceof ShardformError) {
    const message = [err.summary, err.detail].filter((s) => s).join(' ')
    // The engine refuses what the workflow's state does not allow (nothing to approve, task not failed, a run holds
    // the keyspace lock): a conflict with the state, not a bad request.
    if (isErrorCode(err, 'engine.lock_held'))
      return {status: 409, body: {error: {code: 'locked', message, ...hint(err)}}}
    if (isErrorCode(err, 'engine')) return {status: 409, body: {error: {code: 'conflict', message, ...hint(err)}}}
    if (isErrorCode(err, 'unavailable'))
      return {status: 503, body: {error: {code: 'unavailable', message, ...hint(err)}}}
    return {status: 500, body: {error: {code: 'error', message, ...hint(err)}}}
  }
  const fe = err as Partial<FastifyError>
  if (fe.validation || (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500))
    return {
      status: fe.statusCode && fe.statusCode < 500 ? fe.statusCode : 400,
      body: {
        error: {
          code: 'bad_request',
          message: fe.message ?? 'bad request',
          hint: 'See "HTTP API and metrics" in the README.',
        },
      },
    }
  return {status: 500, body: {error: {code: 'internal', message: 'internal error; see the server log.'}}}
}
