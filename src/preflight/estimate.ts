// How long a reshard may take, roughly: what binlog retention on the sources is measured against. One small function
// on purpose, so a fuller estimate (per table, measured rates) can replace it.

/** A copy rate well below what LOAD DATA reaches here (~134–150k rows/s): an estimate should not be optimistic. */
export const DEFAULT_ROWS_PER_SECOND = 100_000

export interface DurationEstimate {
  rows: number
  rows_per_second: number
  seconds: number
}

/** Rows of every source (information_schema's TABLE_ROWS, itself approximate) at one copy rate. */
export function estimateReshard(rows: number, rowsPerSecond = DEFAULT_ROWS_PER_SECOND): DurationEstimate {
  return {rows, rows_per_second: rowsPerSecond, seconds: Math.ceil(rows / rowsPerSecond)}
}
