// Saved plans: the plan, the topology records it was made from, and a checksum that catches hand edits.
import {readFileSync, writeFileSync} from 'node:fs'
import {ShardformError} from '../errors.js'
import {canonicalJSON, sha256} from '../util/canonical.js'
import {printable} from '../util/printable.js'
import {fingerprint, fingerprintInput, type KeyspaceState} from './keyspace-state.js'
import {planShapeProblems} from './shape.js'
import {explainTopologyChange} from './staleness.js'
import {PLAN_FORMAT_VERSION, type Plan, type PreflightReport} from './types.js'

export const PLAN_FILE_KIND = 'shardform-plan'

export interface PlanFile {
  kind: typeof PLAN_FILE_KIND
  format_version: typeof PLAN_FORMAT_VERSION
  plan: Plan
  /** The topology records the plan was made from (fingerprintInput form). */
  topology: unknown
  /** The pre-flight checks `plan` made (for the reviewer; apply runs them again). */
  preflight?: PreflightReport
  checksum: string
}

/** The checksum covers the pre-flight results too when there are some (files without them keep their checksum). */
function checksumOf(plan: Plan, topology: unknown, preflight?: PreflightReport): string {
  return sha256(canonicalJSON(preflight === undefined ? {plan, topology} : {plan, topology, preflight}))
}

export function planFileContent(plan: Plan, state: KeyspaceState | undefined, preflight?: PreflightReport): PlanFile {
  const topology = fingerprintInput(state)
  return {
    kind: PLAN_FILE_KIND,
    format_version: PLAN_FORMAT_VERSION,
    plan,
    topology,
    ...(preflight ? {preflight} : {}),
    checksum: checksumOf(plan, topology, preflight),
  }
}

export function savePlan(
  file: string,
  plan: Plan,
  state: KeyspaceState | undefined,
  preflight?: PreflightReport,
): void {
  writeFileSync(file, JSON.stringify(planFileContent(plan, state, preflight), null, 2) + '\n', {mode: 0o644})
}

export function loadPlanFile(file: string): PlanFile {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ShardformError(
      `${file}: cannot read the plan file: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}. Save a plan with: shardform plan <layout> --out ${file}`,
    )
  }
  let data: PlanFile
  try {
    // -0 is the same number as 0 to the checksum (its canonical JSON): read it as 0, so the plan is exactly the saved one.
    data = JSON.parse(text, (_k, v: unknown) => (Object.is(v, -0) ? 0 : v))
  } catch (err) {
    throw new ShardformError(
      `${file}: not a shardform plan file (invalid JSON: ${printable((err as Error).message)}). Save a plan with: shardform plan <layout> --out FILE`,
    )
  }
  if (
    !data ||
    typeof data !== 'object' ||
    data.kind !== PLAN_FILE_KIND ||
    !data.plan ||
    typeof data.checksum !== 'string'
  ) {
    throw new ShardformError(
      `${file}: not a shardform plan file (made by \`shardform plan --out\`); if it is a layout, pass it as one: shardform apply <layout.yaml>`,
    )
  }
  if (data.format_version !== PLAN_FORMAT_VERSION) {
    throw new ShardformError(
      `${file}: plan format version ${shownVersion(data.format_version)} is not supported by this shardform (it reads version ${PLAN_FORMAT_VERSION}); make the plan again with this version`,
    )
  }
  if (checksumOf(data.plan, data.topology, data.preflight) !== data.checksum) {
    throw new ShardformError(
      `${file}: the plan file was modified after \`shardform plan\` saved it (checksum mismatch), so it is refused. Make a new plan: shardform plan <layout> --out ${file}`,
    )
  }
  const problems = planShapeProblems(data.plan)
  if (problems.length) {
    throw new ShardformError(
      `${file}: not a plan shardform made (${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}), so it is refused and nothing was changed. Make a new plan: shardform plan <layout> --out ${file}`,
    )
  }
  return data
}

export interface Staleness {
  stale: boolean
  /** What changed in the topology since the plan was made (empty when current). */
  changes: string[]
}

/** Is the saved plan still valid against the topology as it is now? */
export function planStaleness(saved: PlanFile, state: KeyspaceState | undefined): Staleness {
  if (fingerprint(state) === saved.plan.fingerprint) return {stale: false, changes: []}
  return {stale: true, changes: explainTopologyChange(saved.topology, fingerprintInput(state))}
}

/** A stored format version as one short, printable token (the file may hold anything there). */
function shownVersion(v: unknown): string {
  if (typeof v !== 'string' && typeof v !== 'number')
    return v === null ? 'null' : `(a ${Array.isArray(v) ? 'list' : typeof v})`
  const s = JSON.stringify(v).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return s.length > 40 ? `${s.slice(0, 37)}...` : s
}
