// Which of a source row change reaches one destination, and as what: the stream applies only rows of its key range.
import type {RowChange, RowImage} from '../../mysql/binlog.js'
import type {TableInfo} from '../../mysql/tables.js'
import type {ApplyOp} from './apply-sql.js'
import type {StreamSpec} from './types.js'

/** A destination table as the stream routes into it. */
export interface DestinationTable {
  info: TableInfo
  /** Does a row image belong to this destination? */
  keep: (row: RowImage) => boolean
  reference: boolean
}

export function routeChange(
  tables: Map<string, DestinationTable>,
  sp: Pick<StreamSpec, 'destinationShard' | 'referenceTables'>,
  ch: RowChange,
  ops: ApplyOp[],
): void {
  const {table, kind, before, after} = ch
  const t = tables.get(table)
  if (!t)
    throw new Error(
      `the source changed rows of table ${table}, which the destination ${sp.destinationShard} does not have`,
    )
  if (t.reference && !sp.referenceTables) return
  const was = before !== undefined && t.keep(before)
  const is = after !== undefined && t.keep(after)
  // An update that moves a row across the key range boundary becomes a delete here or an insert here.
  if (kind === 'insert' && is) ops.push({kind: 'insert', table: t.info, row: after!})
  else if (kind === 'delete' && was) ops.push({kind: 'delete', table: t.info, row: before!})
  else if (kind === 'update') {
    if (was && is) ops.push({kind: 'update', table: t.info, before: before!, after: after!})
    else if (was) ops.push({kind: 'delete', table: t.info, row: before!})
    else if (is) ops.push({kind: 'insert', table: t.info, row: after!})
  }
}
