// Run the built CLI (bin/run.js → dist) as a subprocess, the way a user does.
import {spawn} from 'node:child_process'
import {onTestFinished} from 'vitest'
import {registerProcess} from './procs.js'

export const BIN = new URL('../../bin/run.js', import.meta.url).pathname
export const ROOT = new URL('../../', import.meta.url).pathname

/** `shardform load KEYSPACE --json …args` in the background until stopped (SIGINT); then its JSON summary. Call it in a test. */
export function startLoad(keyspace: string, args: string[], env: Record<string, string | undefined>) {
  const proc = spawn(process.execPath, [BIN, 'load', keyspace, '--json', ...args], {
    cwd: ROOT,
    env: {...process.env, NO_COLOR: '1', ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  registerProcess(`shardform load ${keyspace}`, proc)
  let out = ''
  let err = ''
  proc.stdout.on('data', (d) => (out += d))
  proc.stderr.on('data', (d) => (err += d))
  const exited = new Promise<number | null>((r) => proc.on('close', r))
  // A test that fails before stop() must not leave the generator writing to a cluster that is gone (one did, for hours).
  onTestFinished(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  return {
    stop: async () => {
      proc.kill('SIGINT')
      const code = await exited
      return {summary: (out.trim() ? JSON.parse(out) : {}) as Record<string, any>, code, stderr: err}
    },
  }
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

export function cli(
  args: string[],
  opts: {env?: Record<string, string | undefined>; cwd?: string; input?: string; timeoutMs?: number} = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: {...process.env, NO_COLOR: '1', ...opts.env},
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    registerProcess(`shardform ${args.join(' ')}`, child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr})
    })
    child.stdin.end(opts.input ?? '')
  })
}

/** No stack trace leaked to the user: no "    at fn (file:line)" frames. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+[:(].*\d+:\d+\)?$/m.test(text)
}
