// Where a row goes during a reshard: the keyspace id of its primary vindex column, under the new vschema, decides
// which destination's key range holds it. Reference tables go everywhere; a single destination takes everything.
import {keyRangeContains, type KeyRange} from '../keyspace/keyrange.js'
import {tableRouting, type VSchema} from '../keyspace/vschema.js'
import type {VindexValue} from '../keyspace/vindexes/index.js'
import {qid} from '../mysql/connect.js'
import {copyColumns, needsUtf8Conversion, type TableInfo} from '../mysql/tables.js'

export interface ShardRange {
  name: string
  kr: KeyRange
}

export type TablePlacement =
  | {kind: 'everywhere'}
  | {kind: 'single'}
  | {kind: 'vindex'; column: string; keyspaceId: (v: VindexValue) => Buffer; utf8: boolean}

/** How rows of `table` are placed among `destinations` (all inside one reshard group). */
export function placement(vschema: VSchema, table: TableInfo, destinations: ShardRange[]): TablePlacement {
  if (destinations.length === 1) return {kind: 'single'}
  if (!vschema.sharded) throw new Error(`the vschema is unsharded but rows of ${table.name} must be split among ${destinations.map((d) => d.name).join(', ')}`)
  const r = tableRouting(vschema, table.name)
  if (r.kind === 'reference') return {kind: 'everywhere'}
  const col = table.columns.find((c) => c.name === r.vindex.column)
  if (!col) throw new Error(`table ${table.name} has no column ${r.vindex.column}, which the vschema names as its primary vindex column`)
  return {kind: 'vindex', column: col.name, keyspaceId: r.vindex.fn, utf8: needsUtf8Conversion(col)}
}

function destinationOf(destinations: ShardRange[], id: Buffer): number {
  for (let i = 0; i < destinations.length; i++) if (keyRangeContains(destinations[i].kr, id)) return i
  return -2
}

/**
 * For the copy: extra select expressions and a function from a row (array, copy columns first) to a destination
 * index, -1 for every destination, -2 for a row outside every destination (left out).
 */
export function copyRouter(p: TablePlacement, table: TableInfo, destinations: ShardRange[]): {extraSelect: string[]; route: (row: unknown[]) => number} {
  if (p.kind === 'single') return {extraSelect: [], route: () => 0}
  if (p.kind === 'everywhere') return {extraSelect: [], route: () => -1}
  const cols = copyColumns(table)
  const idx = p.utf8 ? cols.length : cols.findIndex((c) => c.name === p.column)
  const extraSelect = p.utf8 ? [`CAST(${qid(p.column)} AS CHAR CHARACTER SET utf8mb4)`] : []
  const where = `${table.name}.${p.column}`
  return {
    extraSelect,
    route: (row) => {
      let id: Buffer
      try {
        id = p.keyspaceId(row[idx] as VindexValue)
      } catch (err) {
        throw new Error(`a row of ${where} has no keyspace id: ${(err as Error).message}`)
      }
      return destinationOf(destinations, id)
    },
  }
}

/** For filtered replication: does a row image (column name → value) belong to this destination? */
export function rowFilter(p: TablePlacement, table: TableInfo, destination: ShardRange): (row: Record<string, unknown>) => boolean {
  if (p.kind !== 'vindex') return () => true
  return (row) => {
    let id: Buffer
    try {
      id = p.keyspaceId(row[p.column] as VindexValue)
    } catch (err) {
      throw new Error(`a row change of ${table.name}.${p.column} has no keyspace id: ${(err as Error).message}`)
    }
    return keyRangeContains(destination.kr, id)
  }
}
