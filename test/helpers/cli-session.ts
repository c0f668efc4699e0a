// The CLI processes an end-to-end test starts against its cluster (servers, apply, approve): started with the
// cluster's environment, polled for conditions, taken through gates, and killed when the test file ends.
import {setTimeout as sleep} from 'node:timers/promises'
import {expect} from 'vitest'
import {openGate} from '../../src/engine/workflow.js'
import type {TestCluster} from './cluster.js'
import type {Cli} from './engine-cli.js'
import {cliProc, injected, KS, openWorkflow} from './fault-cluster.js'

/** Poll every 100 ms until `fn` holds; with `ms`, fail after that long (else the test's own timeout bounds it). */
export async function poll<T>(
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  what = 'condition',
  ms = Infinity,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

export class CliSession {
  private readonly procs: Cli[] = []

  /** `cluster` is read at each call: the test's beforeAll starts it. */
  constructor(private readonly cluster: () => TestCluster) {}

  run(args: string[]): Cli {
    const p = cliProc(this.cluster(), args)
    this.procs.push(p)
    return p
  }

  /** Kill what still runs (a stopped process is continued first, so that it dies). */
  async killAll(): Promise<void> {
    for (const p of this.procs) {
      if (p.done) continue
      p.proc.kill('SIGCONT')
      p.proc.kill('SIGKILL')
    }
    await Promise.allSettled(this.procs.map((p) => p.exited))
  }

  async gateOpenAt(phase: string, ms?: number): Promise<void> {
    await poll(
      async () => {
        const wf = await openWorkflow(this.cluster())
        return wf?.state === 'waiting' && openGate(wf)?.phase === phase
      },
      `the gate of ${phase}`,
      ms,
    )
  }

  async approve(phase: string): Promise<void> {
    const r = await this.run(['approve', KS, '--phase', phase, '--all']).exited
    expect(r.code, r.stderr).toBe(0)
    injected(`approved ${phase}`)
  }

  async json<T>(args: string[]): Promise<T> {
    const r = await this.run([...args, '--json']).exited
    expect(r.code, r.stderr).toBe(0)
    return JSON.parse(r.stdout) as T
  }
}
