// Errors of the control plane (codes under "server.").
import {ShardformError, type ErrorParts} from '../errors.js'

export class ServerError extends ShardformError {
  override name = 'ServerError'
  constructor(code: string, summary: string, parts: Omit<ErrorParts, 'code'> = {}) {
    super(summary, {...parts, code: `server.${code}`})
  }
}
