// The file backend's intent journal: a commit is written down whole first, then applied file by file, so a commit
// cut short by a crash is rolled forward by the next process that takes the mutex.
import {readFile, stat, unlink} from 'node:fs/promises'
import {join} from 'node:path'
import {enoentUndefined, type FileRecords} from './file-records.js'
import {recordText, TopoError, type TxnOp} from './store.js'

const JOURNAL = '.journal.json'

export interface Journal {
  format: 1
  ops: Array<{op: 'put'; path: string; text: string} | {op: 'delete'; path: string}>
}

/** Test hook, called after the journal is written and after each applied op. */
export type CommitStepHook = (step: 'journaled' | 'applied', index: number) => void

/** The journal of a commit of `ops` (records rendered now, so a bad value fails before anything is locked). */
export function journalOf(ops: TxnOp[]): Journal {
  return {
    format: 1,
    ops: ops.map((o) =>
      o.op === 'put' ? {op: 'put', path: o.path, text: recordText(o.value)} : {op: 'delete', path: o.path},
    ),
  }
}

export class FileJournal {
  private readonly file: string

  constructor(
    private readonly records: FileRecords,
    private readonly onStep?: CommitStepHook,
  ) {
    this.file = join(records.dir, JOURNAL)
  }

  /** Write `journal` down, then apply it. Call with the mutex held, after the caller checked its expectations. */
  async commit(journal: Journal): Promise<void> {
    // Intent first: once the journal is down, the commit happens even if this process dies now.
    await this.records.writeAtomic(this.file, JSON.stringify(journal, null, 2) + '\n')
    this.onStep?.('journaled', -1)
    await this.apply(journal)
  }

  /** Roll forward a commit that a dead (or just finished) process left half done. Call with the mutex held. */
  async replay(): Promise<void> {
    const text = await readFile(this.file, 'utf8').catch(enoentUndefined)
    if (text === undefined) return
    let journal: Journal
    try {
      journal = JSON.parse(text) as Journal
    } catch {
      // It is renamed into place whole, so this is not a torn write: someone edited it. Refuse to guess.
      throw new TopoError('invalid', `${this.file} is damaged; inspect it, then delete it to go on.`)
    }
    await this.apply(journal)
  }

  /** Is a commit under way (or left behind)? Then a plain read should wait for it (or replay it). */
  async pending(): Promise<boolean> {
    return (await stat(this.file).catch(enoentUndefined)) !== undefined
  }

  private async apply(journal: Journal): Promise<void> {
    for (const [i, o] of journal.ops.entries()) {
      if (o.op === 'put') await this.records.write(o.path, o.text)
      else await this.records.remove(o.path)
      this.onStep?.('applied', i)
    }
    await unlink(this.file).catch(enoentUndefined)
  }
}
