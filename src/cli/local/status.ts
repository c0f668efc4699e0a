import {Flags} from '@oclif/core'
import {table} from '../../util/table.js'
import {BaseCommand} from '../base.js'

export default class LocalStatus extends BaseCommand {
  static override summary = 'Show the processes of the local cluster: PID, port, role, read_only, replication health.'
  static override examples = ['<%= config.bin %> local status', '<%= config.bin %> local status --json']
  static override flags = {
    dir: Flags.string({summary: 'Folder of the local cluster.', default: '.shardform/local', helpValue: 'DIR'}),
    json: Flags.boolean({summary: 'Print JSON.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(LocalStatus)
    const {clusterStatus} = await import('../../local/index.js')
    const st = await clusterStatus(flags.dir)
    if (flags.json) return this.json(st)
    if (!st.tablets.length && !st.etcd)
      return this.out(`No local cluster in ${st.dir}. Start one with: shardform local up <layout…>`)
    if (st.etcd)
      this.out(
        `etcd  127.0.0.1:${st.etcd.clientPort}  ${st.etcd.state}${st.etcd.pid ? ` (pid ${st.etcd.pid})` : ''}  log ${st.etcd.log}`,
      )
    this.out(
      table(
        ['TABLET', 'KEYSPACE/SHARD', 'TYPE', 'PORT', 'PID', 'STATE', 'READ_ONLY', 'REPLICATION'],
        st.tablets.map((t) => {
          let repl = '-'
          if (t.replication) {
            const r = t.replication
            const ok = r.ioRunning === 'Yes' && r.sqlRunning === 'Yes'
            repl = ok
              ? `ok from ${t.primary?.alias ?? `port ${r.primaryPort}`}, ${r.secondsBehind ?? '?'} s behind`
              : `BROKEN (IO ${r.ioRunning}, SQL ${r.sqlRunning})${r.lastError ? `: ${r.lastError}` : ''}`
          } else if (t.type !== 'primary' && t.state === 'running') repl = 'not replicating'
          return [
            t.alias,
            `${t.keyspace}/${t.shard}`,
            t.type,
            t.port,
            t.pid || '-',
            t.state,
            t.readOnly === undefined ? '-' : t.readOnly ? 'ON' : 'OFF',
            repl,
          ]
        }),
      ),
    )
  }
}
