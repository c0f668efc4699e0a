import {Args} from '@oclif/core'
import {BaseCommand} from './base.js'

export default class ForceUnlock extends BaseCommand {
  static override summary = 'Remove a keyspace lock whose holder is gone (e.g. a killed apply).'
  static override description = `Needs the lock id the lock error (or shardform status) shows, so a lock taken since is never removed
by mistake. A crashed holder's lease also expires by itself (--lock-ttl of that apply).`
  static override examples = ['<%= config.bin %> force-unlock test_keyspace 3f2a9c1b7d4e']
  static override args = {
    keyspace: Args.string({required: true, description: 'keyspace'}),
    'lock-id': Args.string({required: true, description: 'id of the lock to remove'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ForceUnlock)
    const store = await this.topo(flags.topo)
    const {forceUnlock} = await import('../engine/commands.js')
    const holder = await forceUnlock(store, args.keyspace, args['lock-id'])
    this.out(
      `Removed lock ${holder.id} of keyspace ${args.keyspace}: it was held by ${holder.who} for "${holder.operation}" since ${holder.created}.`,
    )
  }
}
