import {Args, Flags} from '@oclif/core'
import {BaseCommand} from './base.js'

export default class History extends BaseCommand {
  static override summary = "Print a keyspace's audit trail: who applied what, when, and what happened."
  static override examples = [
    '<%= config.bin %> history test_keyspace',
    '<%= config.bin %> history test_keyspace --json',
  ]
  static override args = {keyspace: Args.string({required: true, description: 'keyspace'})}
  static override flags = {json: Flags.boolean({summary: 'Print the events as JSON.'})}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(History)
    const store = await this.topo(flags.topo)
    const [{JsonHistoryView, TextHistoryView}, {collectHistory}] = await Promise.all([
      import('./views/status.js'),
      import('../engine/status.js'),
    ])
    const events = await collectHistory(store, args.keyspace)
    const view = flags.json ? new JsonHistoryView(process.stdout) : new TextHistoryView(process.stdout)
    view.show(args.keyspace, events, store.url)
  }
}
