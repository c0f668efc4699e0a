// Can this server run a stored workflow record? A record it cannot read (damaged, or written by a newer shardform)
// is left alone, with the reason logged: never guessed at.
import {readWorkflowRecord} from '../engine/record.js'
import {PLAN_FORMAT_VERSION} from '../plan/types.js'

/** Why the record cannot be run by this server, or undefined when it can. */
export function unreadableReason(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'it is not a JSON object'
  const wf = readWorkflowRecord(raw)
  if (typeof wf.id !== 'string' || typeof wf.keyspace !== 'string') return 'it has no id or keyspace'
  if (typeof wf.state !== 'string') return 'it has no state'
  const plan = wf.plan as unknown as Record<string, unknown> | undefined
  if (!plan || typeof plan !== 'object' || !Array.isArray(plan.phases)) return 'it holds no plan'
  if (plan.format_version !== PLAN_FORMAT_VERSION)
    return `its plan has format version ${JSON.stringify(plan.format_version)}, this server reads ${PLAN_FORMAT_VERSION}: upgrade this server`
  if (!wf.tasks || typeof wf.tasks !== 'object') return 'it has no tasks'
  if (!Array.isArray(wf.events) || !Array.isArray(wf.approvals)) return 'it has no events or approvals'
  return undefined
}
