// Where a row goes during a reshard: the keyspace id of its primary vindex column, under the new vschema, decides
// which destination's key range holds it. Reference tables go everywhere; a single destination takes everything.
import {keyRangeContains, type KeyRange} from '../keyspace/keyrange.js'
import {tableRouting, type VSchema} from '../keyspace/vschema.js'
import {keyspaceIds, keyspaceIdsFlat, type VindexValue} from '../keyspace/vindexes/index.js'
import {qid} from '../mysql/connect.js'
import {copyColumns, needsUtf8Conversion, type TableInfo} from '../mysql/tables.js'

export interface ShardRange {
  name: string
  kr: KeyRange
}

export type TablePlacement =
  | {kind: 'everywhere'}
  | {kind: 'single'}
  | {kind: 'vindex'; column: string; type: string; keyspaceId: (v: VindexValue) => Buffer; utf8: boolean}

/** How rows of `table` are placed among `destinations` (all inside one reshard group). */
export function placement(vschema: VSchema, table: TableInfo, destinations: ShardRange[]): TablePlacement {
  if (destinations.length === 1) return {kind: 'single'}
  if (!vschema.sharded)
    throw new Error(
      `the vschema is unsharded but rows of ${table.name} must be split among ${destinations.map((d) => d.name).join(', ')}`,
    )
  const r = tableRouting(vschema, table.name)
  if (r.kind === 'reference') return {kind: 'everywhere'}
  const col = table.columns.find((c) => c.name === r.vindex.column)
  if (!col)
    throw new Error(
      `table ${table.name} has no column ${r.vindex.column}, which the vschema names as its primary vindex column`,
    )
  return {
    kind: 'vindex',
    column: col.name,
    type: r.vindex.type,
    keyspaceId: r.vindex.fn,
    utf8: needsUtf8Conversion(col),
  }
}

function destinationOf(destinations: ShardRange[], id: Buffer): number {
  for (let i = 0; i < destinations.length; i++) if (keyRangeContains(destinations[i].kr, id)) return i
  return -2
}

export interface CopyRouter {
  /** Expressions appended to the SELECT list (e.g. the vindex column as utf8mb4). */
  extraSelect: string[]
  /** The row columns (indexes) that route and routeMany read. */
  columns: number[]
  /** A row (array, copy columns first) → destination index; -1: every destination; -2: none (left out). */
  route(row: unknown[]): number
  /** The same for many rows at once (keyspace ids computed in one batch). */
  routeMany(rows: unknown[][]): number[]
}

export function copyRouter(p: TablePlacement, table: TableInfo, destinations: ShardRange[]): CopyRouter {
  if (p.kind === 'single') return {extraSelect: [], columns: [], route: () => 0, routeMany: (rows) => rows.map(() => 0)}
  if (p.kind === 'everywhere')
    return {extraSelect: [], columns: [], route: () => -1, routeMany: (rows) => rows.map(() => -1)}
  const cols = copyColumns(table)
  const idx = p.utf8 ? cols.length : cols.findIndex((c) => c.name === p.column)
  const extraSelect = p.utf8 ? [`CAST(${qid(p.column)} AS CHAR CHARACTER SET utf8mb4)`] : []
  const where = `${table.name}.${p.column}`
  const ids = (values: VindexValue[]) => {
    try {
      return keyspaceIds(p.type, values)
    } catch (err) {
      throw new Error(`a row of ${where} has no keyspace id: ${(err as Error).message}`, {cause: err})
    }
  }
  const fast = eightByteBounds(destinations)
  return {
    extraSelect,
    columns: [idx],
    route: (row) => destinationOf(destinations, ids([row[idx] as VindexValue])[0]),
    routeMany: (rows) => {
      const values = rows.map((r) => r[idx] as VindexValue)
      let flat: Buffer | undefined
      try {
        flat = fast && keyspaceIdsFlat(p.type, values)
      } catch (err) {
        throw new Error(`a row of ${where} has no keyspace id: ${(err as Error).message}`, {cause: err})
      }
      if (!flat || !fast) return ids(values).map((id) => destinationOf(destinations, id))
      const out = new Array<number>(rows.length)
      for (let i = 0; i < rows.length; i++) out[i] = fast(flat.readUInt32BE(i * 8), flat.readUInt32BE(i * 8 + 4))
      return out
    },
  }
}

/**
 * For 8-byte keyspace ids and bounds of at most 8 bytes: destination lookup on two 32-bit numbers. A bound shorter
 * than 8 bytes compares with an 8-byte id as if padded with zeros, so [start, end) holds id ⟺ start ≤ id < end as
 * 64-bit numbers. Undefined when a bound is longer (then ids are compared as bytes).
 */
function eightByteBounds(destinations: ShardRange[]): ((hi: number, lo: number) => number) | undefined {
  if (destinations.some((d) => d.kr.start.length > 8 || d.kr.end.length > 8)) return undefined
  const pad = (b: Buffer) => {
    const x = Buffer.alloc(8)
    b.copy(x)
    return [x.readUInt32BE(0), x.readUInt32BE(4)] as const
  }
  const ranges = destinations.map((d) => ({start: pad(d.kr.start), end: d.kr.end.length ? pad(d.kr.end) : undefined}))
  return (hi, lo) => {
    for (let i = 0; i < ranges.length; i++) {
      const {start, end} = ranges[i]
      if (hi < start[0] || (hi === start[0] && lo < start[1])) continue
      if (end && (hi > end[0] || (hi === end[0] && lo >= end[1]))) continue
      return i
    }
    return -2
  }
}

/** For filtered replication: does a row image (column name → value) belong to this destination? */
export function rowFilter(
  p: TablePlacement,
  table: TableInfo,
  destination: ShardRange,
): (row: Record<string, unknown>) => boolean {
  if (p.kind !== 'vindex') return () => true
  return (row) => {
    let id: Buffer
    try {
      id = p.keyspaceId(row[p.column] as VindexValue)
    } catch (err) {
      throw new Error(`a row change of ${table.name}.${p.column} has no keyspace id: ${(err as Error).message}`, {
        cause: err,
      })
    }
    return keyRangeContains(destination.kr, id)
  }
}
