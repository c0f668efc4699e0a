// The plan as data for machines: the versioned `--json` object (the text and markdown views live in src/cli/views).
import type {Plan} from './types.js'

/** The documented `--json` object (schemas/plan.schema.json). Fields may be added, never renamed. */
export function planToJSON(plan: Plan): Record<string, unknown> {
  return {
    format_version: plan.format_version,
    keyspace: plan.keyspace,
    kind: plan.kind,
    created_at: plan.created_at,
    layout: plan.desired.file,
    changes: plan.changes,
    groups: plan.groups,
    ...(plan.vschemaDiff ? {vschema_diff: plan.vschemaDiff} : {}),
    phases: plan.phases.map((ph) => ({
      name: ph.name,
      mode: ph.mode,
      gate: ph.gate,
      tasks: ph.tasks.map((t) => ({id: t.id, shard: t.shard, detail: t.detail})),
    })),
    summary: plan.summary,
    notes: plan.notes,
    ...(plan.revert ? {revert: plan.revert} : {}),
    ...(plan.estimates ? {estimates: plan.estimates} : {}),
    fingerprint: plan.fingerprint,
  }
}
