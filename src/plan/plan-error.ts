// The error every planning refusal is: the layout cannot be planned against the topology as it stands.
import {ShardformError, type ErrorParts} from '../errors.js'

export class PlanError extends ShardformError {
  override name = 'PlanError'
  constructor(summary: string, parts: ErrorParts = {}) {
    super(summary, {code: 'plan', ...parts})
  }
}
