import {Args} from '@oclif/core'
import {BaseCommand} from './base.js'
import {runFlags, runWorkflow} from './run-workflow.js'

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
    const store = await this.topo(flags.topo)
    const {retry} = await import('../engine/apply.js')
    const code = await runWorkflow(store, this.colors(flags.color), flags, (settings) =>
      retry({...settings, keyspace: args.keyspace, taskId: args.task}),
    )
    if (code !== 0) this.exit(code)
  }
}
