import {Args, Flags} from '@oclif/core'
import type {WorkflowStatus} from '../engine/status.js'
import {workflowsPrefix} from '../topo/paths.js'
import {BaseCommand} from './base.js'
import type {StatusView} from './views/status.js'

export default class Status extends BaseCommand {
  static override summary = 'Show workflows: phases, tasks, progress, open gates and failures.'
  static override description = `Without a keyspace: every unfinished workflow and the last finished one of each keyspace.
Open gates come with the command that approves them, failures with their error and the retry command.`
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status test_keyspace --watch',
    '<%= config.bin %> status test_keyspace --json',
  ]
  static override args = {keyspace: Args.string({description: 'only this keyspace'})}
  static override flags = {
    json: Flags.boolean({summary: 'Print JSON.'}),
    watch: Flags.boolean({summary: 'Redraw on every change until the workflows shown finish (Ctrl-C exits).'}),
    color: Flags.boolean({summary: 'Colour the output (default: on a TTY).', allowNo: true}),
    all: Flags.boolean({
      summary: 'List every task and stream (a phase of more than 20 lists its failed, waiting and running ones).',
    }),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Status)
    const [{JsonStatusView, TextStatusView}, {collectStatus}] = await Promise.all([
      import('./views/status.js'),
      import('../engine/status.js'),
    ])
    const store = await this.topo(flags.topo)
    const hints = flags.topo ? {topo: flags.topo} : {}
    const view: StatusView = flags.json
      ? new JsonStatusView(process.stdout, flags.watch)
      : new TextStatusView(process.stdout, this.colors(flags.color), flags.watch, flags.all)
    const show = async (again = false): Promise<WorkflowStatus[]> => {
      const all = await collectStatus(store, args.keyspace, hints)
      view.show(all, store.url, again)
      return all
    }
    let shown = await show()
    if (!flags.watch || shown.every((s) => s.finished)) return
    await new Promise<void>((resolve) => {
      let busy = false
      let again = false
      let stop: (() => void) | undefined
      const done = () => {
        stop?.()
        process.off('SIGINT', done)
        process.off('SIGTERM', done)
        clearInterval(timer)
        resolve()
      }
      const redraw = async () => {
        if (busy) {
          again = true
          return
        }
        busy = true
        try {
          do {
            again = false
            shown = await show(true)
          } while (again)
          if (shown.every((s) => s.finished)) done()
        } finally {
          busy = false
        }
      }
      process.on('SIGINT', done)
      process.on('SIGTERM', done)
      // Lock changes (an apply starting or dying) are not workflow writes: look again now and then.
      const timer = setInterval(() => void redraw().catch(() => undefined), 5000)
      void store.watch(workflowsPrefix(), () => void redraw().catch(() => undefined)).then((s) => (stop = s))
    })
  }
}
