// Run the built CLI as a subprocess for engine integration tests: through test/helpers/shardform-test-bin.mjs (the CLI
// with the test runtime installed), or through bin/run.js (the data plane) when an environment asks for it.
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, statSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {readWorkflowRecord} from '../../src/engine/record.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {loadLayout} from '../../src/layout/index.js'
import {initKeyspace} from '../../src/layout/init.js'
import {openTopo} from '../../src/topo/open.js'
import type {TopoStore} from '../../src/topo/store.js'
import {registerProcess} from './procs.js'

export const ROOT = resolve(import.meta.dirname, '../..')
export const BIN = join(ROOT, 'bin/run.js')
/** bin/run.js with the test runtime (test/helpers/engine-runtime.mjs) installed in-process. */
export const TEST_BIN = join(ROOT, 'test/helpers/shardform-test-bin.mjs')
export const ONE_SHARD = 'plans/guestbook/1-shard.yaml'
export const TWO_SHARDS = 'plans/guestbook/2-shards.yaml'
export const FOUR_SHARDS = 'plans/guestbook/4-shards.yaml'
export const KS = 'test_keyspace'

/** The CLI tests run dist/: fail early and clearly when it was not built. */
export function assertBuilt(): void {
  const cmd = join(ROOT, 'dist/cli/apply.js')
  if (!existsSync(cmd)) throw new Error('dist/ has no apply command: run `npm run build` first (npm test does).')
  const src = join(ROOT, 'src/engine/runner.ts')
  const built = join(ROOT, 'dist/engine/runner.js')
  if (existsSync(built) && statSync(src).mtimeMs > statSync(built).mtimeMs + 1000) {
    throw new Error('dist/ is older than src/engine: run `npm run build` first (npm test does).')
  }
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

/** Environments cliEnv made for the test runtime: their runs use TEST_BIN; any other runs bin/run.js (the data plane). */
const testRuntimeEnvs = new WeakSet<NodeJS.ProcessEnv>()

/** Environment of a CLI run: this topology, no colour, nothing inherited; the test runtime unless runtime: false. */
export function cliEnv(
  topo: string,
  extra: Record<string, string | undefined> = {},
  runtime = true,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', SHARDFORM_TOPO: topo}
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v
  if (runtime) testRuntimeEnvs.add(env)
  return env
}

export class Cli {
  readonly proc: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<CliResult>
  private readonly t0 = Date.now()

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    const bin = testRuntimeEnvs.has(env) ? TEST_BIN : BIN
    this.proc = spawn(process.execPath, [bin, ...args], {cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
    registerProcess(`shardform ${args.join(' ')}`, this.proc)
    this.proc.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()))
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()))
    this.exited = new Promise((ok) =>
      this.proc.once('close', (code, signal) =>
        ok({code, signal, stdout: this.stdout, stderr: this.stderr, ms: Date.now() - this.t0}),
      ),
    )
  }

  get done(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null
  }

  /** Wait until stdout+stderr matches (or the process exits first: rejects with its output). */
  async waitFor(re: RegExp, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms
    for (;;) {
      if (re.test(this.stdout + this.stderr)) return
      if (this.done) {
        await this.exited
        if (re.test(this.stdout + this.stderr)) return
        throw new Error(
          `process exited (${this.proc.exitCode ?? this.proc.signalCode}) before printing ${re}:\n${this.stdout}\n${this.stderr}`,
        )
      }
      if (Date.now() > deadline) throw new Error(`no ${re} within ${ms} ms:\n${this.stdout}\n${this.stderr}`)
      await sleep(20)
    }
  }

  count(re: RegExp): number {
    return (this.stdout.match(new RegExp(re.source, 'g')) ?? []).length
  }
}

export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Cli(args, env).exited
}

/** `topo init` of the one-shard guestbook, in-process (quicker than the CLI). */
export async function initGuestbook(topo: string): Promise<TopoStore> {
  const store = await openTopo(topo)
  await initKeyspace(store, loadLayout(join(ROOT, ONE_SHARD)))
  return store
}

export async function workflows(store: TopoStore): Promise<WorkflowRecord[]> {
  return (await store.list('workflows/'))
    .filter((e) => e.path.endsWith('/Workflow'))
    .map((e) => readWorkflowRecord(e.value))
}

export async function onlyWorkflow(store: TopoStore): Promise<WorkflowRecord> {
  const all = await workflows(store)
  if (all.length !== 1)
    throw new Error(`expected one workflow, found ${all.length}: ${all.map((w) => w.id).join(', ')}`)
  return all[0]!
}

/** Task id as the test runtime writes it in paths (clone/0 → clone:0). */
export const runKey = (taskId: string) => taskId.replaceAll('/', ':')
