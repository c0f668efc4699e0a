import {Args} from '@oclif/core'
import {BaseCommand} from '../base.js'

export default class TopoInit extends BaseCommand {
  static override summary = 'Bootstrap a keyspace in the topology as it stands today.'
  static override description =
    'Records the keyspace, its vschema, its shards (serving every tablet type) and tablets from the layout. Refuses to overwrite an existing keyspace.'
  static override examples = ['<%= config.bin %> topo init plans/guestbook/1-shard.yaml']
  static override args = {layout: Args.string({required: true, description: 'layout file describing the keyspace now'})}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(TopoInit)
    const [{loadLayout}, {initKeyspace}] = await Promise.all([
      import('../../layout/index.js'),
      import('../../layout/init.js'),
    ])
    const layout = loadLayout(args.layout)
    const store = await this.topo(flags.topo)
    await initKeyspace(store, layout)
    const tablets = layout.shards.reduce((n, s) => n + s.tablets.length, 0)
    const names = layout.shards.map((s) => s.name)
    // A keyspace of thousands of shards: its first and last few say which ranges (`topo show` lists them all).
    const shown =
      names.length <= 16 ? names.join(', ') : `${names.slice(0, 4).join(', ')}, …, ${names.slice(-4).join(', ')}`
    this.out(
      `Initialised keyspace ${layout.keyspace} in ${store.url}: ${layout.shards.length} shard(s) (${shown}), ${tablets} tablet(s), serving primary, replica and rdonly.`,
    )
  }
}
