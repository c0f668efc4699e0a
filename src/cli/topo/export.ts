import {Flags} from '@oclif/core'
import {writeFileSync} from 'node:fs'
import {BaseCommand} from '../base.js'

export default class TopoExport extends BaseCommand {
  static override summary = 'Write a snapshot of the topology that another machine can plan against.'
  static override description =
    'The snapshot is read-only: plan against it with --topo file:FILE (for code review without access to etcd).'
  static override examples = [
    '<%= config.bin %> topo export --out topo.json && shardform plan new.yaml --topo file:topo.json',
  ]
  static override flags = {out: Flags.string({required: true, summary: 'Snapshot file to write.', helpValue: 'FILE'})}

  async run(): Promise<void> {
    const {flags} = await this.parse(TopoExport)
    const store = await this.topo(flags.topo)
    const {exportSnapshot} = await import('../../topo/open.js')
    const snap = await exportSnapshot(store)
    writeFileSync(flags.out, JSON.stringify(snap, null, 2) + '\n')
    this.out(
      `Wrote ${Object.keys(snap.records).length} records from ${store.url} to ${flags.out}. Plan against it with: --topo file:${flags.out}`,
    )
  }
}
