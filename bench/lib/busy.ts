// How much of the time a server is executing shardform's statements: information_schema.PROCESSLIST sampled every
// few ms for a running statement that matches. A destination that is busy most of the time bounds the pipeline; one
// that is mostly idle waits for Node (reading, routing, encoding, building SQL).
import type {Connection} from 'mysql2/promise'

export class BusySampler {
  private samples: Array<{at: number; busy: boolean}> = []
  private running = false
  private loop?: Promise<void>

  constructor(
    private readonly conn: Connection,
    /** SQL LIKE patterns for the statement (PROCESSLIST.INFO), e.g. ['LOAD DATA%']. */
    private readonly patterns: string[],
    private readonly everyMs = 10,
  ) {}

  start(): this {
    this.running = true
    this.loop = (async () => {
      while (this.running) {
        const at = Date.now()
        try {
          const [rows] = (await this.conn.query(
            `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND ID <> CONNECTION_ID() AND (${this.patterns.map(() => 'INFO LIKE ?').join(' OR ')})`,
            this.patterns,
          )) as unknown as [Array<{n: unknown}>]
          this.samples.push({at, busy: Number(String(rows[0].n)) > 0})
        } catch {
          // a missed sample
        }
        await new Promise((r) => setTimeout(r, Math.max(0, this.everyMs - (Date.now() - at))))
      }
    })()
    return this
  }

  async stop(): Promise<void> {
    this.running = false
    await this.loop
  }

  /** Fraction of samples in [from, to] that saw a matching statement running. */
  fraction(from: number, to: number): number | undefined {
    const s = this.samples.filter((x) => x.at >= from && x.at <= to)
    return s.length ? s.filter((x) => x.busy).length / s.length : undefined
  }
}

export const pct = (f: number | undefined) => (f === undefined ? '?' : `${Math.round(f * 100)}%`)
