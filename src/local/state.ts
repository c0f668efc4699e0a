// <dir>/state.json: what `local up` started (PIDs, ports, folders), so `down` stops exactly those and nothing else.
import {randomBytes} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {mkdir, open, readFile, rename, unlink, writeFile} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {ShardformError} from '../errors.js'
import {processAlive} from '../util/process.js'
import type {LocalEtcd} from './etcd.js'
import type {InstancePaths} from './mariadb.js'
import {placeOf, type TabletPlace} from './tablets.js'

export const DEFAULT_LOCAL_DIR = '.shardform/local'

export interface InstanceState extends TabletPlace {
  serverId: number
  pid: number
  /** The instance folder: my.cnf, data/, logs. */
  dir: string
  cnf: string
  datadir: string
  socket: string
  errorLog: string
  /** The primary this instance replicates from (replica and rdonly tablets). */
  primary?: {alias: string; port: number}
  startedAt: string
  /** Users and database were set up on it. */
  setupDone?: boolean
}

export interface EtcdState extends LocalEtcd {
  startedAt: string
}

export interface LocalState {
  format: 1
  dir: string
  etcd?: EtcdState
  tablets: Record<string, InstanceState>
}

/** What state.json records of a tablet's instance started now (or found running). */
export function instanceState(t: TabletPlace, p: InstancePaths, pid: number, setupDone: boolean): InstanceState {
  return {
    ...placeOf(t),
    serverId: t.port,
    pid,
    dir: p.dir,
    cnf: p.cnf,
    datadir: p.datadir,
    socket: p.socket,
    errorLog: p.errorLog,
    startedAt: new Date().toISOString(),
    ...(setupDone ? {setupDone} : {}),
  }
}

export const stateFile = (dir: string) => join(resolve(dir), 'state.json')

export function readState(dir: string): LocalState {
  const file = stateFile(dir)
  if (!existsSync(file)) return {format: 1, dir: resolve(dir), tablets: {}}
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as LocalState
    if (s.format !== 1 || typeof s.tablets !== 'object') throw new Error('unknown format')
    return s
  } catch (err) {
    throw new ShardformError(
      `${file} is not a local cluster state file (${(err as Error).message}); move it away and run \`shardform local up\` again.`,
    )
  }
}

export async function writeState(state: LocalState): Promise<void> {
  const file = stateFile(state.dir)
  await mkdir(state.dir, {recursive: true})
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n')
  await rename(tmp, file)
}

/** One `local up`/`down` at a time per folder: an exclusive lock file holding the PID (stale when that PID is gone). */
export async function withDirLock<T>(dir: string, what: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const base = resolve(dir)
  await mkdir(base, {recursive: true})
  const lock = join(base, '.lock')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const fh = await open(lock, 'wx')
      await fh.writeFile(`${process.pid}\n`)
      await fh.close()
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim())
      if (!holder || !processAlive(holder)) {
        await unlink(lock).catch(() => undefined)
        continue
      }
      if (Date.now() > deadline) {
        throw new ShardformError(
          `another shardform process (pid ${holder}) is working on ${base}; wait for it, then run ${what} again.`,
        )
      }
      await sleep(100)
    }
  }
  try {
    return await fn()
  } finally {
    await unlink(lock).catch(() => undefined)
  }
}
