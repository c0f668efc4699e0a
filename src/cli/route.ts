import {Args} from '@oclif/core'
import {keyRangeContains, keyRangeFromJSON} from '../keyspace/keyrange.js'
import {tableRouting} from '../keyspace/vschema.js'
import {ShardformError} from '../errors.js'
import {BaseCommand} from './base.js'
import {cliValue} from './values.js'

export default class Route extends BaseCommand {
  static override summary = 'Which shard owns a row: value<TAB>keyspace_id<TAB>shard, under a layout.'
  static override description =
    'The value is that of the table\'s primary vindex column. Unsharded keyspaces put every row in shard 0 (keyspace id "-"); reference tables are on every shard ("*").'
  static override examples = ['<%= config.bin %> route plans/guestbook/2-shards.yaml messages 1 2 3']
  static override strict = false
  static override args = {
    layout: Args.string({required: true, description: 'layout file'}),
    table: Args.string({required: true, description: 'table name'}),
    value: Args.string({required: true, description: 'values of the primary vindex column'}),
  }

  async run(): Promise<void> {
    const {args, argv} = await this.parse(Route)
    const {loadLayout} = await import('../layout/index.js')
    const layout = loadLayout(args.layout)
    const routing = (() => {
      try {
        return tableRouting(layout.vschema, args.table)
      } catch (err) {
        throw new ShardformError(`${args.layout}: ${(err as Error).message}`)
      }
    })()
    const lines: string[] = []
    for (const v of (argv as string[]).slice(2)) {
      if (routing.kind === 'reference') {
        lines.push(`${v}\t-\t${layout.vschema.sharded ? '*' : layout.shards[0].name}`)
        continue
      }
      let id: Buffer
      try {
        id = routing.vindex.fn(cliValue(v))
      } catch (err) {
        throw new ShardformError(
          `value ${JSON.stringify(v)} of ${args.table}.${routing.vindex.column}: ${(err as Error).message}`,
        )
      }
      const shard = layout.shards.find((s) => keyRangeContains(keyRangeFromJSON(s.keyRange), id))
      lines.push(`${v}\t${id.toString('hex')}\t${shard?.name ?? '?'}`)
    }
    this.out(lines.join('\n'))
  }
}
