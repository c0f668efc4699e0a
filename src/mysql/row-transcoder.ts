// The copy's row reader: text-protocol row packets turned straight into LOAD DATA lines, without a JS value per
// column (mysql2's row parser makes an array and a Buffer or string per value: most of the copy's garbage). Only the
// columns the router reads are typed, per row, and the primary key of a batch's last row.
import {LoadDataEncoder, type RowValue} from './codec.js'
import type {TextValueReader} from './text-values.js'

/** What the transcoder reads of a mysql2 Packet: one row's payload is buffer[offset, end). */
export interface RowPacket {
  buffer: Buffer
  offset: number
  end: number
}

export class RowTranscoder {
  /** The batch's rows as LOAD DATA lines, back to back: row i is lines[ends[i-1] (or 0), ends[i]). */
  readonly lines = new LoadDataEncoder(1 << 20)
  private ends: number[] = []
  /** Per row of the batch, the typed values of the routed columns (arrays reused from batch to batch). */
  private readonly view: RowValue[][] = []
  count = 0
  private typed: TextValueReader[] = []
  /** Per column: does the router read it; its place in the primary key (-1: none). */
  private isRoute: boolean[] = []
  private pkPos: number[] = []
  private lastBuf?: Buffer
  private readonly lastPkAt: Int32Array

  /**
   * `nCols`: columns written (the first ones; the rest are read for the router only); `routeCols`: columns the
   * router reads (default: all of them); `pkIdx`: the primary key's columns.
   */
  constructor(
    private readonly nCols: number,
    private readonly routeCols: number[] | undefined,
    private readonly pkIdx: number[],
  ) {
    this.lastPkAt = new Int32Array(pkIdx.length * 2)
  }

  /** The result's columns, before its first row. */
  setFields(typed: TextValueReader[]): void {
    this.typed = typed
    this.isRoute = typed.map((_, c) => this.routeCols?.includes(c) ?? true)
    this.pkPos = typed.map((_, c) => this.pkIdx.indexOf(c))
  }

  /** One row packet into the batch. */
  add(p: RowPacket): void {
    const b = p.buffer
    let o = p.offset
    const lines = this.lines
    const i = this.count++
    let v = this.view[i]
    if (!v) this.view.push((v = []))
    const n = this.typed.length
    for (let c = 0; c < n; c++) {
      if (c > 0 && c < this.nCols) lines.byte(0x09)
      const t = b[o++]
      let len: number
      if (t < 251) len = t
      else if (t === 0xfb) {
        if (c < this.nCols) lines.nullField()
        if (this.isRoute[c]) v[c] = null
        if (this.pkPos[c] >= 0) this.lastPkAt[this.pkPos[c] * 2] = -1
        continue
      } else if (t === 0xfc) {
        len = b[o] | (b[o + 1] << 8)
        o += 2
      } else if (t === 0xfd) {
        len = b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)
        o += 3
      } else {
        len = b.readUInt32LE(o) + b.readUInt32LE(o + 4) * 0x100000000
        o += 8
      }
      const end = o + len
      if (end > p.end) throw new Error('a row packet ends before its values do')
      if (c < this.nCols) lines.escaped(b, o, end)
      if (this.isRoute[c]) v[c] = this.typed[c](b.subarray(o, end))
      const j = this.pkPos[c]
      if (j >= 0) {
        this.lastPkAt[j * 2] = o
        this.lastPkAt[j * 2 + 1] = end
      }
      o = end
    }
    lines.byte(0x0a)
    this.ends[i] = lines.size
    this.lastBuf = b
  }

  /** The batch's rows as the router sees them (its columns typed, the others absent). */
  routed(): RowValue[][] {
    return this.view.length === this.count ? this.view : this.view.slice(0, this.count)
  }

  lineStart(i: number): number {
    return i === 0 ? 0 : this.ends[i - 1]
  }

  lineEnd(i: number): number {
    return this.ends[i]
  }

  /** The primary key of the batch's last row, typed, holding no view of a socket read. */
  lastPk(): RowValue[] {
    const b = this.lastBuf!
    return this.pkIdx.map((c, j) => {
      const start = this.lastPkAt[j * 2]
      return start < 0 ? null : this.typed[c](Buffer.from(b.subarray(start, this.lastPkAt[j * 2 + 1])))
    })
  }

  /** Start the next batch. */
  clear(): void {
    this.count = 0
    this.lines.clear()
  }
}
