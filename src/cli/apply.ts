import {Args, Flags} from '@oclif/core'
import {apply} from '../engine/apply.js'
import {loadRuntime} from '../engine/runtime.js'
import {startSession} from '../engine/session.js'
import {parseDuration} from '../engine/workflow.js'
import {BaseCommand} from './base.js'

/** Flags shared by apply and retry (both run the workflow). */
export const runFlags = {
  'auto-approve': Flags.boolean({summary: 'Skip every question and approve every gate (recorded as auto-approve).'}),
  'no-wait': Flags.boolean({summary: 'At the first gate that needs an approval, exit with code 3 instead of waiting; a later apply continues.'}),
  'lock-timeout': Flags.string({summary: 'How long to wait for the keyspace lock held by another apply (e.g. 30s, 2m); 0 fails at once naming the holder.', default: '0', helpValue: 'DURATION'}),
  'lock-ttl': Flags.integer({summary: 'Lease of our keyspace lock in seconds: if this process dies, the lock expires this long after.', default: 15, min: 1}),
  parallelism: Flags.integer({summary: 'Most tasks running at once in a parallel phase.', default: 10, min: 1}),
  json: Flags.boolean({summary: 'Print JSON lines (events, progress, the result) instead of text.'}),
  color: Flags.boolean({summary: 'Colour the output (default: on a TTY).', allowNo: true}),
}

export default class Apply extends BaseCommand {
  static override summary = 'Make a keyspace match a layout or a saved plan: run the workflow, or resume the unfinished one.'
  static override description = `With a layout: plans, shows the plan and asks "Do you want to perform these actions?" (on a TTY;
without one, pass --auto-approve or apply a saved plan). With a saved plan: refuses it when the topology changed
since it was made, else runs it without the overall question. Without an argument: resumes the unfinished workflow.
Phases run in order; gates (canary, phase) are asked on a TTY, or wait for \`shardform approve\` from elsewhere.
Every state change is written to the workflow record first, so after a crash or Ctrl-C \`shardform apply\` resumes.
Exit codes: 0 done or no changes, 1 error or a failed task, 3 waiting for approval (--no-wait), 130 interrupted.`
  static override examples = [
    '<%= config.bin %> apply plans/guestbook/2-shards.yaml',
    '<%= config.bin %> apply reshard.plan --no-wait',
    '<%= config.bin %> apply --auto-approve plans/guestbook/2-shards.yaml',
    '<%= config.bin %> apply',
  ]
  static override args = {
    target: Args.string({description: 'layout file, or plan file saved by `plan --out`; omit to resume the unfinished workflow'}),
  }
  static override flags = {
    ...runFlags,
    workflow: Flags.string({summary: 'Without an argument: the unfinished workflow to resume, when there are several.', helpValue: 'ID'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Apply)
    const lockTimeoutMs = parseDuration(flags['lock-timeout'], '--lock-timeout')
    const store = await this.topo(flags.topo)
    const runtime = await loadRuntime()
    const hints = flags.topo ? {topo: flags.topo} : {}
    const session = startSession({json: flags.json, colors: this.colors(flags.color), hints, autoApprove: flags['auto-approve'], topoUrl: store.url})
    let code: number
    try {
      const result = await apply({
        store,
        runtime,
        target: args.target,
        workflowId: flags.workflow,
        autoApprove: flags['auto-approve'],
        noWait: flags['no-wait'],
        lockTimeoutMs,
        lockTtlSeconds: flags['lock-ttl'],
        parallelism: flags.parallelism,
        hints,
        signal: session.signal,
        ui: session.ui,
      })
      code = session.finish(result)
    } finally {
      session.dispose()
    }
    if (code !== 0) this.exit(code)
  }
}
