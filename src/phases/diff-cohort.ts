// Joining a cohort's shared work in this process (engine/cohorts.ts): the diff tasks of one group started together
// each call join(); the work runs once, for all that joined, when the last expected one has joined, or after a bounded
// wait with those that have (the others — slow to start, or run on another server — do their own when they come).
// Each participant keeps its own outcome: the work settles each one separately, and one that stops (its signal)
// leaves at once while the others go on.

export interface Member<P, R> {
  id: string
  p: P
  signal: AbortSignal
  resolve(r: R): void
  reject(e: unknown): void
}

/** Runs the work for `members` and settles each of them; `missing` did not join in time. */
export type SharedWork<P, R> = (members: Member<P, R>[], missing: string[]) => Promise<void>

interface Gathering<P, R> {
  /** The cohort's tasks still awaited (less those known to run elsewhere). */
  expected: string[]
  cohort: string[]
  members: Member<P, R>[]
  started: boolean
  timer?: NodeJS.Timeout
  poll?: NodeJS.Timeout
}

export interface JoinOptions {
  /** Which of the cohort's tasks will not come here (claimed by another server): not waited for. Polled. */
  notComing?: () => Promise<string[]>
}

export class CohortJoin<P, R> {
  private readonly open = new Map<string, Gathering<P, R>>()

  constructor(
    private readonly work: SharedWork<P, R>,
    /** How long the first to join waits for the rest (ms). */
    private readonly waitMs = 30_000,
    /** How often `notComing` is asked while gathering (ms). */
    private readonly pollMs = 500,
  ) {}

  /** Join cohort `key` (its tasks: `expected`) as `id`; resolves with this participant's own outcome. */
  join(key: string, expected: string[], id: string, p: P, signal: AbortSignal, o: JoinOptions = {}): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason)
      const me: Member<P, R> = {id, p, signal, resolve, reject}
      const g = this.open.get(key)
      // Too late for a scan that has begun (or a cohort of one): work alone.
      if (g?.started || expected.length <= 1 || !expected.includes(id)) return this.start([me], [])
      const gathering: Gathering<P, R> = g ?? {expected, cohort: expected, members: [], started: false}
      if (!g) {
        this.open.set(key, gathering)
        gathering.timer = setTimeout(() => this.go(key, gathering), this.waitMs)
        const notComing = o.notComing
        if (notComing)
          gathering.poll = setInterval(() => {
            void notComing()
              .then((away) => {
                gathering.expected = gathering.expected.filter((x) => !away.includes(x) || this.joined(gathering, x))
                if (this.complete(gathering)) this.go(key, gathering)
              })
              .catch(() => undefined)
          }, this.pollMs)
      }
      gathering.members.push(me)
      const leave = () => {
        if (gathering.started) return
        gathering.members = gathering.members.filter((m) => m !== me)
        if (!gathering.members.length) {
          clearTimeout(gathering.timer)
          clearInterval(gathering.poll)
          this.open.delete(key)
        }
        reject(signal.reason)
      }
      signal.addEventListener('abort', leave, {once: true})
      if (this.complete(gathering)) this.go(key, gathering)
    })
  }

  private joined(g: Gathering<P, R>, id: string): boolean {
    return g.members.some((m) => m.id === id)
  }

  private complete(g: Gathering<P, R>): boolean {
    return g.expected.every((x) => this.joined(g, x))
  }

  /** Cohorts gathering or working now (for tests and status). */
  get size(): number {
    return this.open.size
  }

  private go(key: string, g: Gathering<P, R>): void {
    if (g.started) return
    g.started = true
    clearTimeout(g.timer)
    clearInterval(g.poll)
    const missing = g.cohort.filter((x) => !this.joined(g, x))
    void this.start(g.members, missing).finally(() => {
      if (this.open.get(key) === g) this.open.delete(key)
    })
  }

  /** Run the work; whoever it left unsettled (it threw) gets its error. */
  private async start(members: Member<P, R>[], missing: string[]): Promise<void> {
    const settled = new Set<Member<P, R>>()
    const tracked = members.map((m) => ({
      ...m,
      resolve: (r: R) => {
        settled.add(m)
        m.resolve(r)
      },
      reject: (e: unknown) => {
        settled.add(m)
        m.reject(e)
      },
    }))
    try {
      await this.work(tracked, missing)
    } catch (e) {
      for (const m of members) if (!settled.has(m)) m.reject(e)
      return
    }
    for (const m of members)
      if (!settled.has(m)) m.reject(new Error(`the shared work ended without an outcome for ${m.id}`))
  }
}
