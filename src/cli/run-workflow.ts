// What apply and retry share: their flags, and running a workflow in a terminal session (progress, prompts,
// Ctrl-C, exit code).
import {Flags} from '@oclif/core'
import type {ApplyResult, RunSettings} from '../engine/apply.js'
import type {TopoStore} from '../topo/store.js'
import type {Colors} from '../util/color.js'

export const runFlags = {
  'auto-approve': Flags.boolean({summary: 'Skip every question and approve every gate (recorded as auto-approve).'}),
  'no-wait': Flags.boolean({
    summary: 'At the first gate that needs an approval, exit with code 3 instead of waiting; a later apply continues.',
  }),
  'lock-timeout': Flags.string({
    summary:
      'How long to wait for the keyspace lock held by another apply (e.g. 30s, 2m); 0 fails at once naming the holder.',
    default: '0',
    helpValue: 'DURATION',
  }),
  'lock-ttl': Flags.integer({
    summary: 'Lease of our keyspace lock in seconds: if this process dies, the lock expires this long after.',
    default: 15,
    min: 1,
  }),
  parallelism: Flags.integer({summary: 'Most tasks running at once in a parallel phase.', default: 10, min: 1}),
  json: Flags.boolean({summary: 'Print JSON lines (events, progress, the result) instead of text.'}),
  color: Flags.boolean({summary: 'Colour the output (default: on a TTY).', allowNo: true}),
}

export interface RunFlagValues {
  topo?: string
  'auto-approve': boolean
  'no-wait': boolean
  'lock-timeout': string
  'lock-ttl': number
  parallelism: number
  json: boolean
  color?: boolean
}

/** Run `fn` (apply or retry) with the settings the flags give, in a terminal session; returns the exit code. */
export async function runWorkflow(
  store: TopoStore,
  colors: Colors,
  flags: RunFlagValues,
  fn: (settings: RunSettings) => Promise<ApplyResult>,
  opts: {following?: boolean} = {},
): Promise<number> {
  const [{parseDuration}, {workflowRuntime}, {startSession}, {applyView}] = await Promise.all([
    import('../engine/workflow.js'),
    import('./runtime.js'),
    import('./views/session.js'),
    import('./views/apply.js'),
  ])
  const lockTimeoutMs = parseDuration(flags['lock-timeout'], '--lock-timeout')
  const runtime = await workflowRuntime()
  const hints = flags.topo ? {topo: flags.topo} : {}
  const view = applyView(flags.json ? 'json' : process.stdout.isTTY ? 'tty' : 'plain', process.stdout, colors)
  const session = startSession({
    view,
    json: flags.json,
    hints,
    autoApprove: flags['auto-approve'],
    topoUrl: store.url,
    following: opts.following,
  })
  try {
    const result = await fn({
      store,
      runtime,
      autoApprove: flags['auto-approve'],
      noWait: flags['no-wait'],
      lockTimeoutMs,
      lockTtlSeconds: flags['lock-ttl'],
      parallelism: flags.parallelism,
      hints,
      signal: session.signal,
      ui: session.ui,
    })
    return session.finish(result)
  } finally {
    session.dispose()
  }
}
