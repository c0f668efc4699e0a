// Pre-flight checks of a plan: probe every tablet it touches (read-only, in parallel), then judge the facts.
import type {Plan, PreflightCheck, PreflightReport} from '../plan/types.js'
import type {KeyspaceState} from '../plan/keyspace-state.js'
import type {TopoStore} from '../topo/store.js'
import {estimateReshard, DEFAULT_ROWS_PER_SECOND, type DurationEstimate} from './estimate.js'
import {checkAdminGrants, checkAppGrants} from './grants.js'
import {probeTablet, type TabletFacts} from './probe.js'
import {checkDestination, checkPrimaryKeys, checkTriggers} from './schema.js'
import {
  checkBinlog,
  checkLocalInfile,
  checkRetention,
  checkVersion,
  checkVersionsMatch,
  parseVersion,
  retentionSeconds,
} from './server.js'
import {planTargets, type Target} from './targets.js'

export interface PreflightOptions {
  /** Per tablet (default 5 s): an unreachable tablet fails its check, it does not hold the plan up for long. */
  connectTimeoutMs?: number
  rowsPerSecond?: number
}

/** Report order: by check, then by tablet. */
export const CHECK_ORDER = [
  'reachable',
  'version',
  'versions_match',
  'admin_grants',
  'app_grants',
  'log_bin',
  'binlog_format',
  'binlog_row_image',
  'binlog_row_metadata',
  'gtid',
  'local_infile',
  'binlog_retention',
  'primary_keys',
  'triggers',
  'destination_empty',
]

export function skippedPreflight(reason: string): PreflightReport {
  return {ran: false, skipped: reason, checks: []}
}

export async function runPreflight(
  plan: Plan,
  state: KeyspaceState | undefined,
  opts: PreflightOptions = {},
): Promise<PreflightReport> {
  if (plan.kind === 'noop') return skippedPreflight('no changes to apply')
  const targets = planTargets(plan, state)
  const full = plan.kind === 'reshard'
  const facts = await Promise.all(targets.map((t) => probeTablet(t, full, opts.connectTimeoutMs ?? 5000)))
  const rows = facts.reduce((n, f) => n + (f.rows ?? 0), 0)
  const estimate = estimateReshard(rows, opts.rowsPerSecond ?? DEFAULT_ROWS_PER_SECOND)
  return {
    ran: true,
    checks: evaluate(plan, targets, facts, estimate),
    ...(full ? {estimate} : {}),
    checked_at: new Date().toISOString(),
  }
}

/** The checks, from the facts (pure). Non-reshard plans only check that their tablets are usable. */
export function evaluate(
  plan: Plan,
  targets: Target[],
  facts: TabletFacts[],
  estimate: DurationEstimate,
): PreflightCheck[] {
  const db = plan.desired.database
  const full = plan.kind === 'reshard'
  const out: PreflightCheck[] = []
  const factsOf = (alias: string) => facts.find((f) => f.alias === alias)
  for (const [i, t] of targets.entries()) {
    const f = facts[i]!
    const a = t.tablet
    if (f.error) {
      out.push({
        id: 'reachable',
        target: a.alias,
        status: 'fail',
        summary: `${a.type} as ${a.adminUser}: ${f.error}`,
        fix: `start the server or correct host/port in the layout; the password of ${a.adminUser} comes from ${a.adminPasswordEnv ?? '(no variable)'} or the credentials file`,
      })
      continue
    }
    out.push({id: 'reachable', target: a.alias, status: 'pass', summary: `${a.type}, connected as ${f.currentUser}`})
    out.push(checkVersion(a.alias, f.version))
    out.push(checkAdminGrants({alias: a.alias, user: a.adminUser, currentUser: f.currentUser, grants: f.grants}, db))
    if (!full || !t.primary || t.side === 'other') continue
    const flavor = f.version ? parseVersion(f.version)?.flavor : undefined
    if (f.app?.error)
      out.push({
        id: 'app_grants',
        target: a.alias,
        status: 'fail',
        summary: `cannot log in as the application user ${a.user}: ${f.app.error}; the cutover checks its grants that way`,
        fix: `create ${a.user} on ${a.alias}, or set ${a.passwordEnv ?? 'its password variable'} (or the credentials file)`,
      })
    else if (f.app)
      out.push(checkAppGrants({alias: a.alias, user: a.user, currentUser: f.app.currentUser, grants: f.app.grants}, db))
    out.push(...checkBinlog(a.alias, f.variables, flavor))
    if (f.schemaError) {
      out.push({
        id: t.side === 'source' ? 'primary_keys' : 'destination_empty',
        target: a.alias,
        status: 'fail',
        summary: `could not read ${db}: ${f.schemaError}`,
        fix: `GRANT SELECT, SHOW VIEW ON ${db}.* to ${a.adminUser} (see README, MySQL grants)`,
      })
      continue
    }
    if (t.side === 'source') {
      out.push(checkRetention(a.alias, retentionSeconds(f.variables), estimate.seconds))
      if (f.schema) out.push(checkPrimaryKeys(a.alias, db, f.schema), checkTriggers(a.alias, db, f.schema))
    } else {
      const local = checkLocalInfile(a.alias, f.variables)
      if (local) out.push(local)
      const from = targets.find((x) => x.side === 'source' && x.primary && x.tablet.shard === t.schemaFrom)
      const source = from ? factsOf(from.tablet.alias)?.schema : undefined
      if (f.schema)
        out.push(
          checkDestination(
            {alias: a.alias, schema: f.schema, nonEmpty: f.nonEmpty ?? [], ...(f.retired ? {retired: f.retired} : {})},
            db,
            source,
          ),
        )
    }
  }
  const match = checkVersionsMatch(facts.filter((f) => f.version).map((f) => ({alias: f.alias, text: f.version!})))
  if (match) out.push(match)
  const rank = (id: string) => (CHECK_ORDER.indexOf(id) + 1 || CHECK_ORDER.length + 1) * 1
  return out.sort((x, y) => rank(x.id) - rank(y.id) || x.target.localeCompare(y.target))
}

/** What `plan` shows: the checks, unless asked not to connect or planning against an exported snapshot. */
export async function preflightForPlan(
  plan: Plan,
  state: KeyspaceState | undefined,
  store: TopoStore,
  offline: boolean,
): Promise<PreflightReport> {
  if (offline) return skippedPreflight('--offline')
  if (store.snapshotFile)
    return skippedPreflight(`planned against the topology snapshot ${store.snapshotFile}, offline`)
  return runPreflight(plan, state)
}
