// The file backend's store-wide mutex: an exclusively created file, broken when its holder is provably dead or
// the file is old. Within one process, critical sections queue in memory instead of polling the file.
import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import {link, open, readFile, rename, stat, unlink} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {processAlive} from '../util/process.js'
import {enoentUndefined, TMP, type FileRecords} from './file-records.js'
import {TopoError} from './store.js'

const MUTEX = '.mutex'

export interface FileMutexOptions {
  /** How long to wait for the mutex before giving up (ms). */
  timeoutMs: number
  /** A mutex this old is taken to be left behind by a crashed process (ms). */
  staleMs: number
}

export class FileMutex {
  private queue: Promise<unknown> = Promise.resolve()
  private held?: string
  private readonly file: string

  constructor(
    private readonly records: FileRecords,
    private readonly opts: FileMutexOptions,
  ) {
    this.file = join(records.dir, MUTEX)
  }

  /** Run `fn` holding the mutex; fs errors become TopoErrors. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() =>
      this.records.fsCall(async () => {
        await this.acquire()
        try {
          return await fn()
        } finally {
          await this.release()
        }
      }),
    )
    this.queue = run.catch(() => undefined)
    return run
  }

  private async acquire(): Promise<void> {
    const text = JSON.stringify({
      pid: process.pid,
      hostname: hostname(),
      at: Date.now(),
      nonce: randomBytes(4).toString('hex'),
    })
    const deadline = Date.now() + this.opts.timeoutMs
    for (;;) {
      try {
        const fh = await open(this.file, 'wx')
        try {
          await fh.writeFile(text)
        } finally {
          await fh.close()
        }
        this.held = text
        return
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      }
      const seen = await readFile(this.file, 'utf8').catch(enoentUndefined)
      if (seen !== undefined && (await this.isStale(seen))) {
        await this.breakStale(seen)
        continue
      }
      if (Date.now() > deadline) {
        const holder = parseMutex(seen ?? '')
        throw new TopoError(
          'unavailable',
          `the file topology at ${this.records.dir} stays busy: ${this.file} is held by pid ${holder?.pid ?? '?'}. ` +
            `If no shardform process is running, delete that file.`,
        )
      }
      await sleep(1 + Math.random() * 5)
    }
  }

  private async isStale(text: string): Promise<boolean> {
    const m = parseMutex(text)
    if (m && m.hostname === hostname() && !processAlive(m.pid)) return true
    // Unreadable (a holder killed between create and write) or from another host: go by age.
    const at = m?.at ?? Number((await stat(this.file).catch(enoentUndefined))?.mtimeMs ?? Date.now())
    return Date.now() - at > this.opts.staleMs
  }

  /** Move the stale mutex aside; if what moved is not what we judged stale (someone just took it), put it back. */
  private async breakStale(seen: string): Promise<void> {
    const aside = join(this.records.dir, TMP, `${process.pid}-${randomBytes(4).toString('hex')}-stale-mutex`)
    try {
      await rename(this.file, aside)
    } catch {
      return
    }
    const moved = await readFile(aside, 'utf8').catch(() => seen)
    if (moved !== seen) await link(aside, this.file).catch(() => undefined)
    await unlink(aside).catch(() => undefined)
  }

  private async release(): Promise<void> {
    const ours = this.held
    this.held = undefined
    // Only remove it if it is still ours (it may have been broken as stale if we stalled for long).
    const cur = await readFile(this.file, 'utf8').catch(enoentUndefined)
    if (cur === ours) await unlink(this.file).catch(enoentUndefined)
  }
}

function parseMutex(text: string): {pid: number; hostname: string; at: number} | undefined {
  try {
    const m = JSON.parse(text) as {pid: number; hostname: string; at: number}
    return typeof m.pid === 'number' ? m : undefined
  } catch {
    return undefined
  }
}
