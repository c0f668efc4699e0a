import {Args} from '@oclif/core'
import {keyspaceId, VINDEX_TYPES} from '../keyspace/vindexes/index.js'
import {ShardformError} from '../errors.js'
import {BaseCommand} from './base.js'
import {cliValue} from './values.js'

export default class Vindex extends BaseCommand {
  static override summary = 'Print the keyspace id of each value under a vindex type.'
  static override description = `One lower-case hex keyspace id per line, in order. Types: ${VINDEX_TYPES.join(', ')}.
NULL is refused (it has no keyspace id). For byte vindexes, 0x-prefixed hex is taken as raw bytes.`
  static override examples = ['<%= config.bin %> vindex hash 1 2 3', '<%= config.bin %> vindex xxhash test1']
  static override strict = false
  static override args = {
    type: Args.string({required: true, description: 'vindex type'}),
    value: Args.string({required: true, description: 'values (one or more)'}),
  }

  async run(): Promise<void> {
    const {args, argv} = await this.parse(Vindex)
    const values = (argv as string[]).slice(1)
    const lines: string[] = []
    for (const v of values) {
      try {
        lines.push(keyspaceId(args.type, cliValue(v)).toString('hex'))
      } catch (err) {
        throw new ShardformError(`${(err as Error).message}`)
      }
    }
    this.out(lines.join('\n'))
  }
}
