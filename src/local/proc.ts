// Processes of the local cluster: is a PID still ours, stop it, is a port free, find a binary.
import {accessSync, constants} from 'node:fs'
import {createServer} from 'node:net'
import {delimiter, join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {processAlive, processArgv} from '../util/process.js'

/** True when `pid` runs `binary` (base name) with every one of `args` on its command line. */
export function pidMatches(pid: number, binary: string, args: string[]): boolean {
  const argv = processArgv(pid)
  if (argv.length === 0) return false
  const exe = argv[0].split('/').pop() ?? ''
  return exe === binary && args.every((a) => argv.includes(a))
}

/**
 * Stop a process we started: SIGTERM, wait up to `graceMs`, then SIGKILL. Resolves when it is gone.
 * Only call after pidMatches() said it is ours.
 */
export async function stopPid(pid: number, graceMs = 20_000): Promise<'stopped' | 'killed' | 'gone'> {
  if (!processAlive(pid)) return 'gone'
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return 'gone'
  }
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return 'stopped'
    await sleep(25)
  }
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    return 'stopped'
  }
  for (let i = 0; i < 200 && processAlive(pid); i++) await sleep(25)
  return 'killed'
}

/** Can we listen on 127.0.0.1:port right now? (false when anything else holds it) */
export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen({port, host, exclusive: true}, () => srv.close(() => resolve(true)))
  })
}

/** A port the OS calls free now. */
export function anyFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const addr = srv.address()
      const port = addr && typeof addr === 'object' ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** The first executable among explicit candidates and then $PATH entries. */
export function findExecutable(name: string, candidates: string[] = []): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
  for (const c of [...candidates, ...dirs.map((d) => join(d, name)), `/usr/sbin/${name}`, `/usr/bin/${name}`]) {
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch {
      // next
    }
  }
  return undefined
}
