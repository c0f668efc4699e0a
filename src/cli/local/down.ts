import {Flags} from '@oclif/core'
import {BaseCommand} from '../base.js'

export default class LocalDown extends BaseCommand {
  static override summary =
    'Stop the processes `local up` started (by PID, each checked first); --purge also removes their data.'
  static override examples = ['<%= config.bin %> local down', '<%= config.bin %> local down --purge']
  static override flags = {
    dir: Flags.string({summary: 'Folder of the local cluster.', default: '.shardform/local', helpValue: 'DIR'}),
    purge: Flags.boolean({summary: 'Also delete data directories, logs, etcd data and the state file.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(LocalDown)
    const {stopCluster} = await import('../../local/index.js')
    const rep = await stopCluster(flags.dir, {purge: flags.purge})
    const by = (how: string) => rep.stopped.filter((s) => s.how === how).map((s) => s.name)
    const stopped = [...by('stopped'), ...by('killed')]
    if (!rep.stopped.length) this.out(`Nothing was running from ${rep.dir}.`)
    else {
      this.out(
        stopped.length
          ? `Stopped ${stopped.length} process(es): ${stopped.join(', ')}.`
          : 'No process of this cluster was running.',
      )
      if (by('killed').length) this.out(`Killed after the grace period: ${by('killed').join(', ')}.`)
      if (by('not ours').length)
        this.out(`Left alone (their PID now belongs to another program): ${by('not ours').join(', ')}.`)
    }
    if (rep.purged) this.out(`Removed the cluster's data, logs and state from ${rep.dir}.`)
  }
}
