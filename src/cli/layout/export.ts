import {Args, Flags} from '@oclif/core'
import {writeFileSync} from 'node:fs'
import {ShardformError} from '../../errors.js'
import {BaseCommand} from '../base.js'

export default class LayoutExport extends BaseCommand {
  static override summary = 'Write the layout YAML of a keyspace as the topology holds it (to get a fleet into git).'
  static override description = `Keyspace, database, vschema (inline), defaults shared by every tablet, and the serving
shards with their tablets. Passwords are never written: tablets name the environment variables that hold them.
Planning the exported layout shows no changes.`
  static override examples = [
    '<%= config.bin %> layout export test_keyspace --out layouts/test_keyspace.yaml',
    '<%= config.bin %> layout export test_keyspace > current.yaml',
  ]
  static override args = {keyspace: Args.string({required: true, description: 'keyspace to export'})}
  static override flags = {
    out: Flags.string({summary: 'Write the layout to FILE instead of standard output.', helpValue: 'FILE'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(LayoutExport)
    const [{exportLayout}, {readKeyspaceState}] = await Promise.all([
      import('../../layout/export.js'),
      import('../../plan/keyspace-state.js'),
    ])
    const store = await this.topo(flags.topo)
    const state = await readKeyspaceState(store, args.keyspace)
    if (!state)
      throw new ShardformError(`keyspace "${args.keyspace}" does not exist in ${store.url}`, {
        hint: 'List the keyspaces with: shardform topo show',
      })
    const text = exportLayout(state, {source: store.url})
    if (!flags.out) return this.out(text)
    writeFileSync(flags.out, text)
    this.out(
      `Wrote the layout of keyspace ${args.keyspace} to ${flags.out}. Check it with: shardform plan ${flags.out}`,
    )
  }
}
