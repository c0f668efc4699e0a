// The HTTP side's own errors: a code, an HTTP status, a message and a hint, sent as {error: {code, message, hint}}.
import {ShardformError, type ErrorParts} from '../errors.js'

export class HttpError extends ShardformError {
  override name = 'HttpError'
  constructor(
    readonly status: number,
    code: string,
    summary: string,
    parts: Omit<ErrorParts, 'code'> = {},
  ) {
    super(summary, {...parts, code: `http.${code}`})
  }
}

/** An error about the command line (--listen, --token-file): one paragraph, exit 1. */
export function listenError(summary: string, hint?: string): ShardformError {
  return new ShardformError(summary, {code: 'http.config', ...(hint ? {hint} : {})})
}
