// The plan is data: everything `apply` will do, decided before anything happens.
import type {VSchema} from '../keyspace/vschema.js'
import type {ApprovalPolicy, GatePolicy, Settings, ShardSpec} from '../layout/types.js'
import type {KeyRangeJSON, TabletType} from '../topo/records.js'

export const PLAN_FORMAT_VERSION = '1'

export type PhaseName =
  | 'apply_vschema'
  | 'update_tablets'
  | 'create_shards'
  | 'copy_schema'
  | 'clone'
  | 'wait_for_filtered_replication'
  | 'diff'
  | 'migrate_rdonly'
  | 'migrate_replica'
  | 'migrate_primary'
  | 'retire_sources'
  // A revert of an unfinished workflow (src/plan/revert.ts):
  | 'cancel_migrate_replica'
  | 'cancel_migrate_rdonly'
  | 'stop_filtered_replication'
  | 'delete_shards'

/** Phase order and how each runs its tasks (DESIGN.md "The plan"). */
export const PHASES: ReadonlyArray<{name: PhaseName; mode: 'parallel' | 'sequential'; what: string}> = [
  {name: 'apply_vschema', mode: 'sequential', what: 'store the new vschema'},
  {name: 'update_tablets', mode: 'sequential', what: 'register, change or remove tablets of unchanged shards'},
  {
    name: 'create_shards',
    mode: 'parallel',
    what: 'create destination shard records and register their tablets (not serving)',
  },
  {name: 'copy_schema', mode: 'parallel', what: 'copy tables and views from the first source shard'},
  {name: 'clone', mode: 'parallel', what: 'copy rows from a consistent snapshot, then start filtered replication'},
  {
    name: 'wait_for_filtered_replication',
    mode: 'parallel',
    what: 'wait until filtered replication lag is under the threshold',
  },
  {name: 'diff', mode: 'parallel', what: 'compare schema and every row with the sources at one position'},
  {name: 'migrate_rdonly', mode: 'sequential', what: 'move rdonly traffic to the destinations'},
  {name: 'migrate_replica', mode: 'sequential', what: 'move replica traffic to the destinations'},
  {
    name: 'migrate_primary',
    mode: 'sequential',
    what: 'stop writes on the sources, let the destinations catch up, move primary traffic',
  },
  {
    name: 'retire_sources',
    mode: 'sequential',
    what: 'remove the source shards and their tablets from the topology (data stays on the servers)',
  },
]

/** Phase order of a revert: traffic back first, then what no longer serves is dropped, the vschema last but one. */
export const REVERT_PHASES: ReadonlyArray<{name: PhaseName; mode: 'parallel' | 'sequential'}> = [
  {name: 'cancel_migrate_replica', mode: 'sequential'},
  {name: 'cancel_migrate_rdonly', mode: 'sequential'},
  {name: 'stop_filtered_replication', mode: 'parallel'},
  {name: 'delete_shards', mode: 'parallel'},
  {name: 'wait_for_filtered_replication', mode: 'parallel'},
  {name: 'diff', mode: 'parallel'},
  {name: 'migrate_rdonly', mode: 'sequential'},
  {name: 'migrate_replica', mode: 'sequential'},
  {name: 'migrate_primary', mode: 'sequential'},
  {name: 'apply_vschema', mode: 'sequential'},
  {name: 'retire_sources', mode: 'sequential'},
]

export interface PlanTask {
  /** `<phase>/<shard>` (Vitess task ids), or the phase name for keyspace-wide tasks. */
  id: string
  shard: string
  /** Index into Plan.groups, when the task belongs to a reshard group. */
  group?: number
  /** One line: what this task will do, concretely. */
  detail: string
}

export interface PlanPhase {
  name: PhaseName
  mode: 'parallel' | 'sequential'
  gate: GatePolicy
  tasks: PlanTask[]
}

/** Overlapping source and destination shards that reshard together, independently of other groups. */
export interface ReshardGroup {
  /** The key range the group covers, as a shard name (`0` for the whole keyspace). */
  range: string
  sources: string[]
  destinations: string[]
  /**
   * In a revert: `cancel` undoes a group whose primary traffic never moved (sources/destinations as in the
   * workflow being reverted); `reverse` moves traffic back (sources: that workflow's destinations).
   */
  mode?: 'cancel' | 'reverse'
}

export type ChangeAction = 'create' | 'retire' | 'update' | 'move'
export type ChangeKind = 'vschema' | 'shard' | 'tablet' | 'traffic'

export interface Change {
  action: ChangeAction
  kind: ChangeKind
  name: string
  /** Human-readable specifics (key range, endpoints, from → to). */
  detail?: string
  shard?: string
  tabletType?: TabletType
  from?: string[]
  to?: string[]
}

/** The desired end state, copied from the layout so a saved plan carries everything apply needs. */
export interface DesiredState {
  file: string
  database: string
  vschema: VSchema
  approvals: ApprovalPolicy
  settings: Settings
  shards: ShardSpec[]
}

export interface CurrentShard {
  name: string
  keyRange: KeyRangeJSON
  servedTypes: TabletType[]
}

export interface Plan {
  format_version: typeof PLAN_FORMAT_VERSION
  keyspace: string
  /** reshard: shards change; update: vschema or tablets only; revert: undo an unfinished workflow; noop: nothing. */
  kind: 'reshard' | 'update' | 'revert' | 'noop'
  created_at: string
  /** Fingerprint of the topology records the plan was made from. */
  fingerprint: string
  current: {shards: CurrentShard[]; vschema: VSchema}
  desired: DesiredState
  groups: ReshardGroup[]
  changes: Change[]
  vschemaDiff?: string
  phases: PlanPhase[]
  summary: {create: number; retire: number; update: number; move: number; tasks: number}
  notes: string[]
  /** Set for kind `revert`: the workflow it undoes, how far that got, and why the plan cancels or reverses. */
  revert?: {workflow: string; layout: string; stage: string; reason: string; cancelled: string[]; reversed: string[]}
  /** Sizes and durations measured on the tablets when the plan was made (src/estimate). */
  estimates?: PlanEstimates
}

export type PreflightStatus = 'pass' | 'warn' | 'fail'

/** One pre-flight check on one target (a tablet alias, or the keyspace): what was found and how to fix it. */
export interface PreflightCheck {
  id: string
  status: PreflightStatus
  target: string
  summary: string
  /** One line: the statement or setting that fixes it (warn and fail only). */
  fix?: string
}

/** Read-only checks of the plan's tablets (src/preflight), made by `plan` and again by `apply` before it starts. */
export interface PreflightReport {
  ran: boolean
  /** Why the checks did not run (offline, a topology snapshot, nothing to apply). */
  skipped?: string
  checks: PreflightCheck[]
  /** The rough duration the binlog retention was measured against. */
  estimate?: {rows: number; rows_per_second: number; seconds: number}
  checked_at?: string
}

/** Rows and bytes of one table (or a shard's total). */
export interface SizeEstimate {
  rows: number
  bytes: number
}

/** What a reshard will move and how long it should take (src/estimate). Not part of the fingerprint. */
export type PlanEstimates =
  | {ran: false; skipped: string}
  | {
      ran: true
      /** information_schema (approximate) or exact (SELECT COUNT(*)). */
      method: 'information_schema' | 'exact'
      sources: Array<SizeEstimate & {shard: string; tables: Array<SizeEstimate & {name: string}>}>
      /** Predicted from a sample of keyspace ids per sharded table. */
      destinations: Array<SizeEstimate & {shard: string; share: number}>
      /** max / mean of the destinations' predicted rows (1 = even). */
      skew: number
      sample: {rows: number}
      rates: {copy_rows_per_second: number; diff_rows_per_second: number; apply_rows_per_second: number; source: string}
      /** Average writes per second on the sources (from their status counters), 0 when unknown. */
      write_rows_per_second: number
      /** catchup_seconds null: writes outpace the stream's apply rate. */
      durations: {copy_seconds: number; catchup_seconds: number | null; diff_seconds: number}
    }
