// The VSchema subset shardform understands (Vitess JSON shape), and the questions the data plane asks of it.
import {ShardformError, type ErrorParts} from '../errors.js'
import {getVindex, isVindexType, type VindexFn} from './vindexes/index.js'

export interface VindexDef {
  type: string
  params?: Record<string, string>
  owner?: string
}

export interface ColumnVindex {
  column?: string
  columns?: string[]
  name: string
}

export interface TableDef {
  /** `reference` tables are copied whole to every shard. */
  type?: 'reference' | 'sequence' | ''
  column_vindexes?: ColumnVindex[]
  auto_increment?: {column: string; sequence: string}
}

export interface VSchema {
  sharded: boolean
  vindexes?: Record<string, VindexDef>
  tables?: Record<string, TableDef>
}

export interface PrimaryVindex {
  column: string
  vindexName: string
  type: string
  fn: VindexFn
}

/** What the data plane does with one table: route rows by a column, or copy to every shard. */
export type TableRouting = {kind: 'sharded'; vindex: PrimaryVindex} | {kind: 'reference'}

export class VSchemaError extends ShardformError {
  override name = 'VSchemaError'
  constructor(summary: string, parts: ErrorParts = {}) {
    super(summary, {code: 'vschema', ...parts})
  }
}

function primaryColumn(cv: ColumnVindex): string | undefined {
  return cv.column ?? (cv.columns && cv.columns.length === 1 ? cv.columns[0] : undefined)
}

/** Problems with a vschema, as [json path, message] pairs (empty when fine). */
export function vschemaProblems(vs: VSchema): Array<[Array<string | number>, string]> {
  const out: Array<[Array<string | number>, string]> = []
  for (const [name, v] of Object.entries(vs.vindexes ?? {})) {
    if (!isVindexType(v.type)) {
      out.push([
        ['vindexes', name, 'type'],
        `unknown vindex type "${v.type}": shardform supports hash, numeric, reverse_bits, xxhash, binary_md5, binary`,
      ])
    }
  }
  if (!vs.sharded) return out
  for (const [table, def] of Object.entries(vs.tables ?? {})) {
    if (def.type === 'reference' || def.type === 'sequence') continue
    const cvs = def.column_vindexes ?? []
    if (cvs.length === 0) {
      out.push([
        ['tables', table],
        `table "${table}" has no primary vindex: add column_vindexes with the sharding column first, or mark it "type: reference"`,
      ])
      continue
    }
    const first = cvs[0]
    if (!primaryColumn(first)) {
      out.push([
        ['tables', table, 'column_vindexes', 0],
        `the primary vindex of table "${table}" must name exactly one column`,
      ])
    }
    if (!vs.vindexes || !Object.hasOwn(vs.vindexes, first.name)) {
      out.push([
        ['tables', table, 'column_vindexes', 0, 'name'],
        `table "${table}" uses vindex "${first.name}", which is not declared under vindexes`,
      ])
    }
  }
  return out
}

/** How rows of `table` are placed. Tables absent from a sharded vschema are an error, not a guess. */
export function tableRouting(vs: VSchema, table: string): TableRouting {
  // Own keys only: a table named "constructor" or "toString" must not find Object.prototype's members.
  const def = vs.tables && Object.hasOwn(vs.tables, table) ? vs.tables[table] : undefined
  if (!vs.sharded) return {kind: 'reference'}
  if (!def)
    throw new VSchemaError(
      `table "${table}" is not in the vschema: shardform cannot tell which shard its rows belong to; add it to the layout's vschema`,
    )
  if (def.type === 'reference') return {kind: 'reference'}
  if (def.type === 'sequence')
    throw new VSchemaError(`table "${table}" is a sequence table; sequence tables live in an unsharded keyspace`)
  const cv = def.column_vindexes?.[0]
  const column = cv && primaryColumn(cv)
  const vdef = cv && vs.vindexes && Object.hasOwn(vs.vindexes, cv.name) ? vs.vindexes[cv.name] : undefined
  if (!cv || !column || !vdef) throw new VSchemaError(`table "${table}" has no usable primary vindex in the vschema`)
  return {kind: 'sharded', vindex: {column, vindexName: cv.name, type: vdef.type, fn: getVindex(vdef.type)}}
}
