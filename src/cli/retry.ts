import {Args} from '@oclif/core'
import {retry} from '../engine/apply.js'
import {loadRuntime} from '../engine/runtime.js'
import {startSession} from '../engine/session.js'
import {parseDuration} from '../engine/workflow.js'
import {runFlags} from './apply.js'
import {BaseCommand} from './base.js'

export default class Retry extends BaseCommand {
  static override summary = 'Run a failed task again, then continue the workflow from there.'
  static override description = `Takes the keyspace lock, puts the failed task back to pending (its error stays in the history) and
continues the workflow like apply. Retry as often as needed. Exit codes as for apply.`
  static override examples = ['<%= config.bin %> retry test_keyspace diff/80-']
  static override args = {
    keyspace: Args.string({required: true, description: 'keyspace of the workflow'}),
    task: Args.string({required: true, description: 'failed task id, e.g. diff/80-'}),
  }
  static override flags = runFlags

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Retry)
    const lockTimeoutMs = parseDuration(flags['lock-timeout'], '--lock-timeout')
    const store = await this.topo(flags.topo)
    const runtime = await loadRuntime()
    const hints = flags.topo ? {topo: flags.topo} : {}
    const session = startSession({json: flags.json, colors: this.colors(flags.color), hints, autoApprove: flags['auto-approve'], topoUrl: store.url})
    let code: number
    try {
      const result = await retry({
        store,
        runtime,
        keyspace: args.keyspace,
        taskId: args.task,
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
