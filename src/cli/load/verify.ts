import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../base.js'

export default class LoadVerify extends BaseCommand {
  static override summary =
    'Check the serving shards against a load journal: every acknowledged row present once, in the right shard, with its last content.'
  static override description = `Replays the journal into the expected final state of every row, then streams the messages table of every
shard serving primary traffic now and checks: each acknowledged row is present exactly once, in the shard whose
key range holds its keyspace id, with its last acknowledged message; deleted rows are gone. Rows in no journal
are reported as unexpected (a failure only with --strict). Exit 1 on any difference.`
  static override examples = ['<%= config.bin %> load verify --journal .shardform/guestbook.journal test_keyspace']
  static override args = {
    keyspace: Args.string({required: true, description: 'keyspace the journal was written against'}),
  }
  static override flags = {
    journal: Flags.string({
      summary: 'Journal written by `shardform load --journal`.',
      required: true,
      helpValue: 'FILE',
    }),
    strict: Flags.boolean({summary: 'Rows that are in no journal are differences too.'}),
    json: Flags.boolean({summary: 'Print the report as JSON.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(LoadVerify)
    const store = await this.topo(flags.topo)
    const {verifyJournal, renderVerifyReport} = await import('../../load/verify.js')
    const report = await verifyJournal({
      store,
      keyspace: args.keyspace,
      journalFile: flags.journal,
      strict: flags.strict,
    })
    if (flags.json) this.json(report)
    else this.out(renderVerifyReport(report))
    if (!report.ok) this.exit(1)
  }
}
