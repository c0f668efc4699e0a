// Estimation I/O: table sizes from information_schema (or COUNT(*)), a sample of keyspace ids, the write rate.
import type {Connection} from 'mysql2/promise'
import {tableRouting, type VSchema} from '../keyspace/vschema.js'
import {connectTablet, qid, withConnection} from '../mysql/connect.js'
import type {Plan, PlanEstimates} from '../plan/types.js'
import type {TabletRecord} from '../topo/records.js'
import type {TopoStore} from '../topo/store.js'
import {
  DEFAULT_RATES,
  estimateDurations,
  ratesFromWorkflow,
  type FinishedTask,
  predictDestinations,
  sampleStep,
  skew,
  type SourceSample,
  type TableSample,
} from './model.js'

export interface EstimateOptions {
  /** SELECT COUNT(*) instead of information_schema's approximate TABLE_ROWS. */
  exact?: boolean
  /** Rows sampled per table per source shard (default 2000). */
  sampleSize?: number
}

/** The tablet to read from: rdonly first, then replica, then primary (as the clone does). */
function readTablet(tablets: TabletRecord[], shard: string): TabletRecord | undefined {
  const of = tablets.filter((t) => t.shard === shard)
  return (
    of.find((t) => t.type === 'rdonly') ?? of.find((t) => t.type === 'replica') ?? of.find((t) => t.type === 'primary')
  )
}

type Row = Record<string, unknown>

/** A plan should not wait long on a tablet that does not answer: the estimate is skipped instead. */
const CONNECT_TIMEOUT_MS = 5000

async function onTablet<T>(t: TabletRecord, fn: (c: Connection) => Promise<T>): Promise<T> {
  return withConnection(await connectTablet(t, 'app', {connectTimeout: CONNECT_TIMEOUT_MS}), fn)
}
type Measured = Extract<PlanEstimates, {ran: true}>

async function query(c: Connection, sql: string, params: unknown[] = []): Promise<Row[]> {
  const [rows] = await c.query(sql, params)
  return rows as Row[]
}

async function sampleSource(
  c: Connection,
  db: string,
  vschema: VSchema,
  opts: EstimateOptions,
): Promise<{tables: TableSample[]; sampled: number}> {
  const sizes = await query(
    c,
    `SELECT TABLE_NAME AS name, TABLE_ROWS AS \`rows\`, DATA_LENGTH AS bytes FROM information_schema.TABLES
     WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`,
    [db],
  )
  const tables: TableSample[] = []
  let sampled = 0
  for (const s of sizes) {
    const name = String(s.name)
    const from = `${qid(db)}.${qid(name)}`
    let rows = Number(s.rows ?? 0)
    const bytes = Number(s.bytes ?? 0)
    if (opts.exact) rows = Number((await query(c, `SELECT COUNT(*) AS n FROM ${from}`))[0].n)
    let routing
    try {
      routing = tableRouting(vschema, name)
    } catch {
      tables.push({name, rows, bytes, ids: []}) // not routable: split evenly (the planner's checks say why)
      continue
    }
    if (routing.kind === 'reference') {
      tables.push({name, rows, bytes})
      continue
    }
    const step = sampleStep(rows, opts.sampleSize ?? 2000)
    const pk = await primaryKey(c, db, name)
    const order = pk.length ? pk.map(qid).join(', ') : qid(routing.vindex.column)
    const col = qid(routing.vindex.column)
    // Every step-th row by primary key: evenly spread, deterministic, one pass over the index.
    const got = await query(
      c,
      `SELECT v FROM (SELECT ${col} AS v, ROW_NUMBER() OVER (ORDER BY ${order}) AS rn FROM ${from}) s
       WHERE MOD(rn - 1, ?) = 0 LIMIT ?`,
      [step, (opts.sampleSize ?? 2000) + 1],
    )
    const ids: Buffer[] = []
    for (const r of got) {
      if (r.v === null || r.v === undefined) continue
      try {
        ids.push(routing.vindex.fn(r.v as never))
      } catch {
        // A value without a keyspace id stops the clone with its own error; the estimate just leaves it out.
      }
    }
    sampled += ids.length
    tables.push({name, rows, bytes, ids})
  }
  return {tables, sampled}
}

async function primaryKey(c: Connection, db: string, table: string): Promise<string[]> {
  const rows = await query(
    c,
    `SELECT COLUMN_NAME AS c FROM information_schema.KEY_COLUMN_USAGE
     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`,
    [db, table],
  )
  return rows.map((r) => String(r.c))
}

/** Row changes per second since the server started (Com_insert + Com_update + Com_delete over Uptime). */
async function writeRate(c: Connection): Promise<number> {
  const rows = await query(
    c,
    `SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_insert', 'Com_update', 'Com_delete', 'Uptime')`,
  )
  const v = new Map(rows.map((r) => [String(r.Variable_name), Number(r.Value)]))
  const uptime = v.get('Uptime') ?? 0
  if (uptime <= 0) return 0
  return ((v.get('Com_insert') ?? 0) + (v.get('Com_update') ?? 0) + (v.get('Com_delete') ?? 0)) / uptime
}

/**
 * Estimates for a reshard plan, read from the source shards' tablets. Undefined for plans that move no data;
 * `{ran: false, skipped}` when a tablet cannot be read (the plan itself stands).
 */
export async function estimatePlan(
  plan: Plan,
  tablets: TabletRecord[],
  opts: EstimateOptions = {},
  last?: {id: string; tasks?: Record<string, FinishedTask>},
): Promise<PlanEstimates | undefined> {
  if (plan.kind !== 'reshard' || !plan.groups.length) return undefined
  const db = plan.desired.database
  const vschema = plan.desired.vschema.sharded ? plan.desired.vschema : plan.current.vschema
  const sources: Measured['sources'] = []
  const destinations: Measured['destinations'] = []
  /** Rows per reshard group (its destinations together): one diff scan each. */
  const groupRows: number[] = []
  let sampledRows = 0
  let writeRowsPerSec = 0
  try {
    for (const g of plan.groups) {
      const samples: SourceSample[] = []
      for (const shard of g.sources) {
        const primary = tablets.find((t) => t.shard === shard && t.type === 'primary')
        const t = readTablet(tablets, shard)
        if (!t) return {ran: false, skipped: `source shard ${shard} has no tablet in the topology`}
        const {tables, sampled} = await onTablet(t, (c) => sampleSource(c, db, vschema, opts))
        if (primary) writeRowsPerSec += await onTablet(primary, writeRate)
        sampledRows += sampled
        samples.push({shard, tables})
        sources.push({
          shard,
          rows: tables.reduce((s, x) => s + x.rows, 0),
          bytes: tables.reduce((s, x) => s + x.bytes, 0),
          tables: tables.map(({name, rows, bytes}) => ({name, rows, bytes})),
        })
      }
      const predicted = predictDestinations(samples, g.destinations)
      const total = [...predicted.values()].reduce((s, e) => s + e.rows, 0)
      groupRows.push(total)
      for (const [shard, e] of predicted) destinations.push({shard, ...e, share: total ? e.rows / total : 0})
    }
  } catch (err) {
    return {ran: false, skipped: `tablets unreachable: ${(err as Error).message}`}
  }
  const measured = last?.tasks ? ratesFromWorkflow(last.tasks) : {}
  const rates = {...DEFAULT_RATES, ...measured}
  const rateSource = Object.keys(measured).length
    ? `${Object.keys(measured).length === 2 ? 'copy and diff' : measured.copyRowsPerSec ? 'copy' : 'diff'} measured by workflow ${last!.id}, the rest defaults (bench/RESULTS.md)`
    : 'defaults (bench/RESULTS.md)'
  const d = estimateDurations({
    sourceRows: sources.map((s) => s.rows),
    groupRows,
    diffParallelism: plan.desired.settings.diffParallelism ?? 2,
    writeRowsPerSec,
    rates,
  })
  return {
    ran: true,
    method: opts.exact ? 'exact' : 'information_schema',
    sources,
    destinations,
    skew: skew(destinations.map((d) => d.rows)),
    sample: {rows: sampledRows},
    rates: {
      copy_rows_per_second: rates.copyRowsPerSec,
      diff_rows_per_second: rates.diffRowsPerSec,
      apply_rows_per_second: rates.applyRowsPerSec,
      source: rateSource,
    },
    write_rows_per_second: Math.round(writeRowsPerSec * 10) / 10,
    durations: {copy_seconds: d.copySeconds, catchup_seconds: d.catchupSeconds, diff_seconds: d.diffSeconds},
  }
}

/** What `plan` shows: estimates, unless asked not to connect or planning against an exported snapshot. */
export async function estimateForPlan(
  plan: Plan,
  tablets: TabletRecord[],
  store: TopoStore,
  opts: EstimateOptions & {offline?: boolean},
  /** The keyspace's last finished workflow: its clone and diff tasks give measured rates. */
  last?: {id: string; tasks?: Record<string, FinishedTask>},
): Promise<PlanEstimates | undefined> {
  if (plan.kind !== 'reshard') return undefined
  if (opts.offline) return {ran: false, skipped: '--offline'}
  if (store.snapshotFile) return {ran: false, skipped: 'planned against a topology snapshot, offline'}
  return estimatePlan(plan, tablets, opts, last)
}
