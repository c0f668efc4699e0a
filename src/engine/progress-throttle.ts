// A task's progress is written to the workflow record at most once per interval: the latest report wins, and the
// one still pending when the task ends is handed back to be written with its outcome. The interval may be a function,
// asked before each write (it grows with what a write of the record costs).
import type {TaskProgress} from './types.js'

export type StampedProgress = TaskProgress & {at: string}

export class ProgressThrottle {
  private last = 0
  private timer?: NodeJS.Timeout
  private pending?: StampedProgress

  constructor(
    private readonly intervalMs: number | (() => number),
    private readonly write: (p: StampedProgress) => void,
  ) {}

  set(p: StampedProgress): void {
    this.pending = p
    if (this.timer) return
    this.timer = setTimeout(
      () => {
        this.timer = undefined
        const due = this.pending
        this.pending = undefined
        this.last = Date.now()
        if (due) this.write(due)
      },
      Math.max(0, this.last + (typeof this.intervalMs === 'number' ? this.intervalMs : this.intervalMs()) - Date.now()),
    )
  }

  /** No more writes; returns the latest progress not yet written. */
  stop(): StampedProgress | undefined {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const due = this.pending
    this.pending = undefined
    return due
  }
}
