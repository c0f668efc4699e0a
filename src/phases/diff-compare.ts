// The comparison of one destination's table with the source rows routed to it, both in key order: a merge that
// counts matching, different, missing (on the source only) and extra (on the destination only) rows. It is fed one
// source row at a time by the shared scan (diff-scan.ts), which reads the sources once for every destination.
import type {RowValue} from '../mysql/codec.js'
import {rowsEqual} from '../mysql/rows.js'

/** Rows in key order, pulled (RowCursor's reading side). */
export interface OrderedRows {
  /** A row can be peeked without waiting (or the rows have ended). */
  readonly buffered: boolean
  ready(): Promise<void>
  peek(): RowValue[] | undefined
  shift(): RowValue[] | undefined
}

export interface TableReport {
  table: string
  /** Steps of the merge: matching pairs, missing and extra rows. */
  compared: number
  missing: number
  extra: number
  different: number
  /** The first few differences, by key. */
  examples: string[]
}

export class DestinationCompare {
  readonly report: TableReport

  constructor(
    table: string,
    private readonly cmp: (a: RowValue[], b: RowValue[]) => number,
    /** Columns compared (the copy columns; trailing ones, such as a routing tag, are ignored). */
    private readonly width: number,
    private readonly formatKey: (row: RowValue[]) => string,
    private readonly dst: OrderedRows,
    private readonly shown = 10,
  ) {
    this.report = {table, compared: 0, missing: 0, extra: 0, different: 0, examples: []}
  }

  /**
   * The next source row that belongs here (keys ascending). Returns a promise only when it must wait for destination
   * rows: a promise per row would cost more than the comparison.
   */
  feed(s: RowValue[]): void | Promise<void> {
    while (this.dst.buffered) {
      const d = this.dst.peek()
      if (!d) return this.note('missing', s)
      const c = this.cmp(s, d)
      if (c < 0) return this.note('missing', s)
      this.dst.shift()
      if (c === 0) {
        if (rowsEqual(s, d, this.width)) this.report.compared++
        else this.note('different', s)
        return
      }
      this.note('extra', d)
    }
    return this.dst.ready().then(() => this.feed(s))
  }

  /** The source rows have ended: what is left on the destination is extra. */
  async finish(): Promise<TableReport> {
    for (;;) {
      if (!this.dst.buffered) await this.dst.ready()
      const d = this.dst.shift()
      if (!d) return this.report
      this.note('extra', d)
    }
  }

  get differs(): boolean {
    return this.report.missing + this.report.extra + this.report.different > 0
  }

  private note(what: 'missing' | 'extra' | 'different', row: RowValue[]): void {
    const r = this.report
    r.compared++
    r[what]++
    if (r.examples.length < this.shown) r.examples.push(`${what} ${this.formatKey(row)}`)
  }
}
