// Can this server run a stored workflow record? A record it cannot read (damaged, or written by a newer shardform)
// is left alone, with the reason logged: never guessed at.
import {newerRecordReason, stampOf} from '../engine/record-format.js'
import {readWorkflowRecord} from '../engine/record.js'
import {PLAN_FORMAT_VERSION} from '../plan/types.js'
import {compareVersions, SHARDFORM_VERSION} from '../util/version.js'

/** Why the record cannot be run by this server (of `version`), or undefined when it can. */
export function unreadableReason(raw: unknown, version = SHARDFORM_VERSION): string | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'it is not a JSON object'
  const newer = newerRecordReason(raw, {version, who: 'this server'})
  if (newer) return newer
  const wf = readWorkflowRecord(raw)
  if (typeof wf.id !== 'string' || typeof wf.keyspace !== 'string') return 'it has no id or keyspace'
  if (typeof wf.state !== 'string') return 'it has no state'
  const plan = wf.plan as unknown as Record<string, unknown> | undefined
  if (!plan || typeof plan !== 'object' || !Array.isArray(plan.phases)) return 'it holds no plan'
  if (plan.format_version !== PLAN_FORMAT_VERSION) {
    const {writtenBy} = stampOf(raw)
    const to =
      writtenBy && compareVersions(writtenBy, version) > 0 ? ` to shardform ≥ ${writtenBy} (which wrote it)` : ''
    return `its plan has format version ${JSON.stringify(plan.format_version)}, this server (shardform ${version}) reads ${PLAN_FORMAT_VERSION}: upgrade this server${to}`
  }
  if (!wf.tasks || typeof wf.tasks !== 'object') return 'it has no tasks'
  if (!Array.isArray(wf.events) || !Array.isArray(wf.approvals)) return 'it has no events or approvals'
  return undefined
}
