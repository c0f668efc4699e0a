// Can this server run a stored workflow record? A record it cannot read (damaged, or written by a newer shardform)
// is left alone, with the reason logged: never guessed at.
import {newerRecordReason, stampOf} from '../engine/record-format.js'
import {readWorkflowRecord, recordDamage} from '../engine/record.js'
import type {WorkflowRecord} from '../engine/types.js'
import {PLAN_FORMAT_VERSION} from '../plan/types.js'
import {compareVersions, SHARDFORM_VERSION} from '../util/version.js'

/** Why the record cannot be run by this server (of `version`), or undefined when it can. */
export function unreadableReason(raw: unknown, version = SHARDFORM_VERSION): string | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'it is not a JSON object'
  const newer = newerRecordReason(raw, {version, who: 'this server'})
  if (newer) return newer
  const damage = recordDamage(raw)
  if (damage) return damage
  const plan = readWorkflowRecord(raw).plan as unknown as Record<string, unknown>
  if (plan.format_version !== PLAN_FORMAT_VERSION) {
    const {writtenBy} = stampOf(raw)
    const to =
      writtenBy && compareVersions(writtenBy, version) > 0 ? ` to shardform ≥ ${writtenBy} (which wrote it)` : ''
    return `its plan has format version ${JSON.stringify(plan.format_version)}, this server (shardform ${version}) reads ${PLAN_FORMAT_VERSION}: upgrade this server${to}`
  }
  return undefined
}

const verdicts = new WeakMap<object, {why?: string; wf?: WorkflowRecord}>()

/**
 * unreadableReason, and the record in its current shape when readable: once per listed value. A server looks for work
 * every second over a listing that reuses unchanged values, and a large record takes milliseconds to check and shape.
 */
export function readable(raw: unknown): {why?: string; wf?: WorkflowRecord} {
  if (typeof raw !== 'object' || raw === null) return {why: unreadableReason(raw) ?? 'it is not a JSON object'}
  let v = verdicts.get(raw)
  if (!v) {
    const why = unreadableReason(raw)
    v = why ? {why} : {wf: readWorkflowRecord(raw)}
    verdicts.set(raw, v)
  }
  return v
}
