import {readFileSync} from 'node:fs'
import {Args} from '@oclif/core'
import {ShardformError} from '../../errors.js'
import {BaseCommand} from '../base.js'

export default class SchemaLoad extends BaseCommand {
  static override summary = 'Apply a schema file to every serving primary of a keyspace.'
  static override description = `Runs each statement of the file, in order, on the primary of every shard serving primary traffic
(shardform's admin user, the keyspace's database); replicas get it through replication. Shards run in
parallel; a failing statement stops that shard and the command exits 1.`
  static override examples = ['<%= config.bin %> schema load test_keyspace plans/guestbook/schema.sql']
  static override args = {
    keyspace: Args.string({required: true, description: 'keyspace name'}),
    file: Args.string({required: true, description: 'SQL file (statements separated by ;)'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(SchemaLoad)
    let sql: string
    try {
      sql = readFileSync(args.file, 'utf8')
    } catch (err) {
      throw new ShardformError(`cannot read ${args.file}: ${(err as Error).message}`)
    }
    const store = await this.topo(flags.topo)
    const {loadSchema} = await import('../../mysql/schema-file.js')
    const results = await loadSchema(store, args.keyspace, sql)
    for (const r of results) {
      this.out(
        r.error
          ? `shard ${r.shard} (${r.tablet}): FAILED after ${r.statements} statement(s): ${r.error}`
          : `shard ${r.shard} (${r.tablet}): ${r.statements} statement(s) applied in ${r.ms} ms`,
      )
    }
    const failed = results.filter((r) => r.error)
    if (failed.length)
      throw new ShardformError(
        `the schema was not applied on ${failed.length} of ${results.length} shard(s) (${failed.map((r) => r.shard).join(', ')})`,
      )
  }
}
