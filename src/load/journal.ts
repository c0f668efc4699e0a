// The load generator's journal: append-only JSON lines, one per change the server ACKNOWLEDGED (written after the
// acknowledgement), plus changes whose outcome is unknown (`uncertain: true`). `load verify` replays it.
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {mkdir, open, type FileHandle} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'
import {createInterface} from 'node:readline'
import {ShardformError} from '../errors.js'

export type ChangeOp = 'insert' | 'update' | 'delete'

export interface JournalStart {
  type: 'start'
  v: 1
  keyspace: string
  table: string
  pid: number
  /** Per-process tag mixed into time_created_ns. */
  tag: number
  at: string
}

export interface JournalChange {
  op: ChangeOp
  page: string
  ts: string
  /** Content hash of the message written (insert/update); see messageHash(). */
  h?: string
  /** Epoch ms of the acknowledgement (or of the error). */
  at: number
  shard?: string
  /** The outcome is unknown (the connection broke mid-statement): verify accepts either outcome. */
  uncertain?: true
  /** The change definitely did not happen (refused); kept for the record, ignored by verify. */
  failed?: true
  error?: string
}

export interface JournalEnd {
  type: 'end'
  at: string
  summary?: unknown
}

export type JournalLine = JournalStart | JournalChange | JournalEnd

/** The hash the journal stores instead of the message: 16 hex digits of SHA-256 over its UTF-8 bytes. */
export function messageHash(message: string | Buffer | null): string {
  if (message === null) return 'null'
  return createHash('sha256').update(message).digest('hex').slice(0, 16)
}

/** Buffered appends, flushed every `flushMs` and on close (with fsync). Lines are written in acknowledgement order. */
export class JournalWriter {
  private buf: string[] = []
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> = Promise.resolve()
  private failed: Error | undefined
  lines = 0

  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    private readonly flushMs: number,
  ) {}

  static async open(file: string, flushMs = 200): Promise<JournalWriter> {
    const abs = resolve(file)
    await mkdir(dirname(abs), {recursive: true})
    const fh = await open(abs, 'a')
    return new JournalWriter(abs, fh, flushMs)
  }

  append(line: JournalLine): void {
    if (this.failed) throw new ShardformError(`cannot write the journal ${this.file}: ${this.failed.message}`)
    this.buf.push(JSON.stringify(line) + '\n')
    this.lines++
    if (this.buf.length >= 1000) void this.flush()
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs)
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const chunk = this.buf.join('')
    this.buf = []
    if (chunk) {
      this.writing = this.writing.then(async () => {
        try {
          await this.fh.write(chunk)
        } catch (err) {
          this.failed = err as Error
        }
      })
    }
    return this.writing
  }

  async close(): Promise<void> {
    await this.flush()
    await this.fh.sync().catch(() => undefined)
    await this.fh.close()
    if (this.failed) throw new ShardformError(`writing the journal ${this.file} failed: ${this.failed.message}`)
  }
}

/** Every line of a journal, parsed; a torn last line (a crash mid-write) is skipped, other bad lines are errors. */
export async function* readJournal(file: string): AsyncGenerator<JournalLine> {
  const stream = createReadStream(file, {encoding: 'utf8'})
  const lines = createInterface({input: stream, crlfDelay: Infinity})
  let n = 0
  let pendingError: string | undefined
  try {
    for await (const text of lines) {
      n++
      if (pendingError) throw new ShardformError(pendingError)
      if (!text.trim()) continue
      try {
        yield JSON.parse(text) as JournalLine
      } catch {
        pendingError = `${file}:${n}: not a journal line (JSON expected)`
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ShardformError(`there is no journal at ${file}`)
    throw err
  }
}
