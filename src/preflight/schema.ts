// What copy_schema and clone will find: every copied table has a primary key, no triggers, empty destinations.
import {qid} from '../mysql/connect.js'
import type {SchemaInfo} from '../mysql/tables.js'
import type {PreflightCheck} from '../plan/types.js'
import {printable} from '../util/printable.js'

const names = (list: string[], max = 5) =>
  list.slice(0, max).map(printable).join(', ') + (list.length > max ? `, … (${list.length} in all)` : '')

/** Rows are copied, diffed and replicated by primary key: a table without one cannot be resharded. */
export function checkPrimaryKeys(alias: string, db: string, schema: SchemaInfo): PreflightCheck {
  const base = {id: 'primary_keys', target: alias}
  const without = schema.tables.filter((t) => !t.primaryKey.length).map((t) => t.name)
  if (!without.length)
    return {...base, status: 'pass', summary: `${schema.tables.length} table(s) of ${db}, each with a primary key`}
  return {
    ...base,
    status: 'fail',
    summary: `table(s) without a primary key in ${db}: ${names(without)}`,
    fix: `ALTER TABLE ${qid(db)}.${qid(without[0]!)} ADD PRIMARY KEY (<unique, not null columns>); likewise for each`,
  }
}

/** copy_schema refuses triggers: their effects are already in the copied rows. */
export function checkTriggers(alias: string, db: string, schema: SchemaInfo): PreflightCheck {
  const base = {id: 'triggers', target: alias}
  if (!schema.triggers.length) return {...base, status: 'pass', summary: `no triggers in ${db}`}
  const t = schema.triggers[0]!
  return {
    ...base,
    status: 'fail',
    summary: `triggers in ${db}: ${names(schema.triggers.map((x) => `${x.name} on ${x.table}`))}; their effects would be applied twice`,
    fix: `DROP TRIGGER ${qid(db)}.${qid(t.name)}; likewise for each, and create them on the new shards afterwards`,
  }
}

export interface DestinationFacts {
  alias: string
  schema: SchemaInfo
  /** Tables that hold at least one row. */
  nonEmpty: string[]
  /** This server held a shard shardform retired: its rows are stale and copy_schema empties them. */
  retired?: {shard: string; workflow: string}
}

/**
 * What copy_schema accepts on a destination primary: nothing, identical empty tables, or rows of a shard shardform
 * itself retired there (emptied before the copy). Rows of unknown origin or a table defined differently stop it.
 */
export function checkDestination(d: DestinationFacts, db: string, source?: SchemaInfo): PreflightCheck {
  const base = {id: 'destination_empty', target: d.alias}
  const differs = source
    ? d.schema.tables.filter((t) => {
        const s = source.tables.find((x) => x.name === t.name)
        return s && s.create !== t.create
      })
    : []
  if (differs.length)
    return {
      ...base,
      status: 'fail',
      summary: `${db} already has table(s) defined differently from the source: ${names(differs.map((t) => t.name))}`,
      fix: `DROP TABLE ${qid(db)}.${qid(differs[0]!.name)} on ${d.alias} (or make it identical to the source's)`,
    }
  if (d.nonEmpty.length && !d.retired)
    return {
      ...base,
      status: 'fail',
      summary: `${db} holds rows shardform did not leave there (in ${names(d.nonEmpty)}); the copy needs empty tables`,
      fix: `TRUNCATE TABLE ${qid(db)}.${qid(d.nonEmpty[0]!)}; likewise for each on ${d.alias}, or point the shard at another server`,
    }
  if (d.nonEmpty.length)
    return {
      ...base,
      status: 'warn',
      summary: `${db} holds rows of shard ${printable(d.retired!.shard)}, retired here by ${printable(d.retired!.workflow)} (in ${names(d.nonEmpty)}); copy_schema empties them before the copy`,
    }
  const n = d.schema.tables.length
  return {
    ...base,
    status: 'pass',
    summary: n ? `${db} has ${n} empty table(s) matching the source` : `${db} is empty`,
  }
}
