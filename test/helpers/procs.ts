// Every process a test starts is registered here when it starts, so a failing test cannot leave it running.
//
//   const off = registerProcess('etcd :2379', child)     // a ChildProcess (dropped by itself when it exits) or a pid
//   registerCleanup('cluster /tmp/x', () => c.stop())     // async teardown (data dirs too), run if still registered
//   off()                                                  // the test stopped it itself: forget it
//
// test/helpers/procs-setup.ts (vitest setupFiles) calls stopRegistered() after every test file, after the file's own
// afterAll hooks; whatever is still registered when the worker exits anyway (a crash, a signal) gets SIGKILL.
// `group` ties several registrations together (a cluster's mariadbd pids) for releaseGroup().
import type {ChildProcess} from 'node:child_process'
import {processStartTime} from '../../src/util/process.js'

interface Entry {
  name: string
  group?: string
  pid?: number
  /** processStartTime of `pid` at registration: a reused pid is another process and is left alone. */
  started?: string
  child?: ChildProcess
  cleanup?: () => Promise<unknown>
}

const entries = new Set<Entry>()

function add(e: Entry): () => void {
  entries.add(e)
  installExitHooks()
  return () => void entries.delete(e)
}

/** Register a started process (ChildProcess or pid). Returns a function that forgets it. */
export function registerProcess(name: string, p: ChildProcess | number, opts: {group?: string} = {}): () => void {
  const pid = typeof p === 'number' ? p : p.pid
  const e: Entry = {name, ...(opts.group ? {group: opts.group} : {})}
  if (pid !== undefined) {
    e.pid = pid
    const started = processStartTime(pid)
    if (started !== undefined) e.started = started
  }
  if (typeof p !== 'number') {
    e.child = p
    if (p.exitCode !== null || p.signalCode !== null) return () => undefined
    p.once('exit', () => entries.delete(e))
  }
  return add(e)
}

/** Register an async teardown (e.g. a cluster's stop()), run by stopRegistered() if the test did not run it. */
export function registerCleanup(
  name: string,
  cleanup: () => Promise<unknown>,
  opts: {group?: string} = {},
): () => void {
  return add({name, cleanup, ...(opts.group ? {group: opts.group} : {})})
}

/** Forget every registration of `group` (its owner stopped all of it). */
export function releaseGroup(group: string): void {
  for (const e of [...entries]) if (e.group === group) entries.delete(e)
}

/** What is registered now (names), for tests of the registry and for diagnostics. */
export function registered(): string[] {
  return [...entries].map((e) => e.name)
}

function killNow(e: Entry): void {
  try {
    if (e.child && e.child.exitCode === null && e.child.signalCode === null) e.child.kill('SIGKILL')
    else if (!e.child && e.pid !== undefined && e.started !== undefined && processStartTime(e.pid) === e.started)
      process.kill(e.pid, 'SIGKILL')
  } catch {
    // gone already
  }
}

/**
 * Run the cleanups still registered (last registered first, like a stack), then SIGKILL the processes left; returns
 * the names of what was left.
 */
export async function stopRegistered(): Promise<string[]> {
  const left = [...entries]
  entries.clear()
  for (const e of left.filter((x) => x.cleanup).reverse()) {
    await e.cleanup!().catch((err: unknown) => console.warn(`cleanup of ${e.name} failed: ${String(err)}`))
  }
  for (const e of left.filter((x) => !x.cleanup)) killNow(e)
  return left.map((e) => e.name)
}

let hooked = false
function installExitHooks(): void {
  if (hooked) return
  hooked = true
  const killAll = () => {
    for (const e of entries) killNow(e)
    entries.clear()
  }
  process.on('exit', killAll)
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAll()
      // Alone with this signal: restore its default action (termination) and raise it again.
      if (process.listenerCount(sig) === 1) {
        process.off(sig, onSignal)
        process.kill(process.pid, sig)
      }
    }
    process.on(sig, onSignal)
  }
}
