// Questions on the terminal with node:readline. Never prompts when stdin is not a TTY.
import {createInterface} from 'node:readline'
import {EngineError} from '../../engine/workflow.js'
import {ShardformError} from '../../errors.js'

/** Error code: Ctrl-C while a question was open. */
export const PROMPT_INTERRUPTED = 'cli.prompt_interrupted'

const interrupted = () => new ShardformError('interrupted', {code: PROMPT_INTERRUPTED, exitCode: 130})

export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY)
}

export interface AskOptions {
  output?: NodeJS.WritableStream
  /** Abort the question (e.g. the gate was approved from another terminal); rejects with the signal's reason. */
  signal?: AbortSignal
}

/** Ask one question and resolve with the trimmed answer. */
export function ask(question: string, opts: AskOptions = {}): Promise<string> {
  if (!canPrompt()) return Promise.reject(new EngineError('cannot ask: stdin is not a terminal'))
  const output = opts.output ?? process.stdout
  const rl = createInterface({input: process.stdin, output, terminal: true})
  return new Promise<string>((resolve, reject) => {
    let done = false
    const finish = (fn: () => void) => {
      if (done) return
      done = true
      opts.signal?.removeEventListener('abort', onAbort)
      rl.close()
      fn()
    }
    const onAbort = () =>
      finish(() => {
        output.write('\n')
        reject(opts.signal?.reason ?? new Error('aborted'))
      })
    if (opts.signal?.aborted) return onAbort()
    opts.signal?.addEventListener('abort', onAbort, {once: true})
    rl.on('SIGINT', () =>
      finish(() => {
        output.write('\n')
        reject(interrupted())
      }),
    )
    rl.on('close', () => finish(() => reject(interrupted())))
    rl.question(question.endsWith(' ') ? question : question + ' ', (answer) => finish(() => resolve(answer.trim())))
  })
}

/** yes/no question: "yes" or "y" approves, anything else declines. */
export async function askYesNo(question: string, opts: AskOptions = {}): Promise<boolean> {
  const a = (await ask(question, opts)).toLowerCase()
  return a === 'yes' || a === 'y'
}
