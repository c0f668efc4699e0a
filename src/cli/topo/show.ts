import {Args, Flags} from '@oclif/core'
import {ShardformError} from '../../errors.js'
import type {VSchema} from '../../keyspace/vschema.js'
import {describeKeyspaces} from '../../topo/describe.js'
import {BaseCommand} from '../base.js'
import {table} from '../../util/table.js'

export default class TopoShow extends BaseCommand {
  static override summary = 'Show keyspaces, their shards (key ranges, what they serve), tablets and vschema.'
  static override examples = ['<%= config.bin %> topo show', '<%= config.bin %> topo show test_keyspace --json']
  static override args = {keyspace: Args.string({description: 'only this keyspace'})}
  static override flags = {json: Flags.boolean({summary: 'Print JSON.'})}

  async run(): Promise<void> {
    const {args, flags} = await this.parse(TopoShow)
    const store = await this.topo(flags.topo)
    const keyspaces = await describeKeyspaces(store, args.keyspace)
    if (args.keyspace && keyspaces.length === 0)
      throw new ShardformError(
        `keyspace "${args.keyspace}" does not exist in ${store.url}; create it with: shardform topo init <layout>`,
      )
    if (flags.json) return this.json({topology: store.url, keyspaces})
    if (keyspaces.length === 0)
      return this.out(`No keyspaces in ${store.url}. Create one with: shardform topo init <layout>`)
    for (const ks of keyspaces) {
      this.out(
        `Keyspace ${ks.name} (${ks.sharded ? 'sharded' : 'unsharded'}, database ${ks.database})${ks.workflow ? ` — workflow ${ks.workflow}` : ''}`,
      )
      this.out(
        table(
          ['SHARD', 'KEY RANGE', 'SERVING', 'PRIMARY', 'STATE'],
          ks.shards.map((s) => [s.name, s.range, s.serving.join(',') || '-', s.primary ?? '-', s.state]),
        ),
      )
      this.out(
        table(
          ['TABLET', 'SHARD', 'TYPE', 'ADDRESS', 'USER'],
          ks.tablets.map((t) => [t.alias, t.shard, t.type, `${t.host}:${t.port}`, t.user]),
        ),
      )
      this.out(vschemaText(ks.vschema))
    }
  }
}

/** The vschema as a table of tables: how each one's rows are placed (the full JSON is in --json). */
function vschemaText(vs: VSchema): string {
  const tables = Object.entries(vs.tables ?? {}).sort(([a], [b]) => a.localeCompare(b))
  const head = `VSchema: ${vs.sharded ? 'sharded' : 'unsharded'}, ${tables.length} table(s)`
  if (!tables.length) return head
  const rows = tables.map(([name, def]) => {
    if (def.type === 'reference' || def.type === 'sequence') return [name, def.type, '-', '-', '-']
    const cvs = def.column_vindexes ?? []
    const cv = cvs[0]
    if (!cv) return [name, vs.sharded ? 'no primary vindex' : '-', '-', '-', '-']
    const type = vs.vindexes && Object.hasOwn(vs.vindexes, cv.name) ? vs.vindexes[cv.name].type : '?'
    const more = cvs.slice(1).map((c) => c.name)
    return [name, cv.name, type, cv.column ?? (cv.columns ?? []).join(','), more.join(',') || '-']
  })
  return `${head}\n${table(['TABLE', 'PRIMARY VINDEX', 'TYPE', 'COLUMNS', 'OTHER VINDEXES'], rows)}`
}
