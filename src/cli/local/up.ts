import {Args, Flags} from '@oclif/core'
import {table} from '../../util/table.js'
import {BaseCommand} from '../base.js'

export default class LocalUp extends BaseCommand {
  static override summary = 'Start etcd and one mariadbd per tablet of the layouts, on 127.0.0.1.'
  static override description = `Each tablet gets a mariadbd (binlog ROW/FULL, GTID) with the layout's database, an application user
that may only use that database (so read_only stops it), shardform's admin user and a replication user.
Replica and rdonly tablets replicate from their shard's primary with GTID. etcd is started when the
topology is etcd://127.0.0.1:<port>/… and nothing answers there. Passwords come from the variables the
layout names (SHARDFORM_MYSQL_PASSWORD, SHARDFORM_ADMIN_PASSWORD; replication: SHARDFORM_REPL_PASSWORD);
those set nowhere are generated and saved in the credentials file (mode 0600).
Only processes are started: record the keyspace with \`shardform topo init\`. Running it again is safe:
running instances are left alone, stopped ones restart on their data.`
  static override examples = [
    '<%= config.bin %> local up plans/guestbook/1-shard.yaml plans/guestbook/2-shards.yaml',
    'SHARDFORM_TOPO=etcd://127.0.0.1:12379/shardform <%= config.bin %> local up plans/guestbook/*.yaml',
  ]
  static override strict = false
  static override args = {layout: Args.string({required: true, description: 'layout files whose tablets to start'})}
  static override flags = {
    dir: Flags.string({summary: 'Folder for data, logs and state.', default: '.shardform/local', helpValue: 'DIR'}),
    'buffer-pool': Flags.string({
      summary: 'innodb_buffer_pool_size of each instance.',
      default: '64M',
      helpValue: 'SIZE',
    }),
    json: Flags.boolean({summary: 'Print JSON.'}),
  }

  async run(): Promise<void> {
    const {flags, argv} = await this.parse(LocalUp)
    const {loadLayout} = await import('../../layout/index.js')
    const layouts = (argv as string[]).map((f) => loadLayout(f))
    const {localUp} = await import('../../local/index.js')
    const res = await localUp({
      dir: flags.dir,
      layouts,
      topoUrl: flags.topo,
      bufferPool: flags['buffer-pool'],
      onProgress: flags.json ? undefined : (line) => process.stderr.write(`${line}\n`),
    })
    if (flags.json) {
      const {stop: _stop, ...rest} = res
      return this.json(rest)
    }
    const started = res.tablets.filter((t) => t.action !== 'running').length
    const etcd = res.etcd
      ? `; etcd on 127.0.0.1:${res.etcd.clientPort} ${res.etcd.action === 'external' ? 'already answering (not ours)' : res.etcd.action}`
      : ''
    this.out(
      `${started ? `Started ${started} of ${res.tablets.length}` : `All ${res.tablets.length}`} tablet(s) ${started ? '' : 'already running '}in ${(res.elapsedMs / 1000).toFixed(1)} s${etcd}:`,
    )
    this.out(
      table(
        ['TABLET', 'KEYSPACE/SHARD', 'TYPE', 'ADDRESS', 'PID', 'STATUS'],
        res.tablets.map((t) => [
          t.alias,
          `${t.keyspace}/${t.shard}`,
          t.type,
          `127.0.0.1:${t.port}`,
          t.pid,
          `${t.action}${t.primary ? `, replicating from ${t.primary.alias}` : ''}`,
        ]),
      ),
    )
    if (res.generatedPasswords.length) {
      this.out(
        `Generated passwords for ${res.generatedPasswords.join(', ')}; they are in ${res.credentialsFile} (mode 0600).`,
      )
    }
    const dirFlag = flags.dir === '.shardform/local' ? '' : ` --dir ${flags.dir}`
    this.out(
      `Data and logs: ${res.dir}/<tablet>/. Check with: shardform local status${dirFlag}. Stop with: shardform local down${dirFlag}`,
    )
    this.out('The topology is unchanged; record a keyspace with: shardform topo init <layout>')
  }
}
