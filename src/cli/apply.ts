import {Args, Flags} from '@oclif/core'
import {BaseCommand} from './base.js'
import type {ApplyResult, RunSettings} from '../engine/apply.js'
import {runFlags, runWorkflow} from './run-workflow.js'

export default class Apply extends BaseCommand {
  static override summary =
    'Make a keyspace match a layout or a saved plan: run the workflow, or resume the unfinished one.'
  static override description = `With a layout: plans, shows the plan and asks "Do you want to perform these actions?" (on a TTY;
without one, pass --auto-approve or apply a saved plan). With a saved plan: refuses it when the topology changed
since it was made, else runs it without the overall question. Without an argument: resumes the unfinished workflow.
Phases run in order; gates (canary, phase) are asked on a TTY, or wait for \`shardform approve\` from elsewhere.
Every state change is written to the workflow record first, so after a crash or Ctrl-C \`shardform apply\` resumes.
When a \`shardform server\` is live in the topology, apply records the workflow and the servers run it: apply follows it,
printing the same lines and asking at gates on a TTY (the approval is recorded; a server acts on it); Ctrl-C stops
only the following. --detach returns once the workflow is recorded.
Exit codes: 0 done or no changes, 1 error or a failed task, 3 waiting for approval (--no-wait), 130 interrupted.`
  static override examples = [
    '<%= config.bin %> apply plans/guestbook/2-shards.yaml',
    '<%= config.bin %> apply reshard.plan --no-wait',
    '<%= config.bin %> apply --auto-approve plans/guestbook/2-shards.yaml',
    '<%= config.bin %> apply',
  ]
  static override args = {
    target: Args.string({
      description: 'layout file, or plan file saved by `plan --out`; omit to resume the unfinished workflow',
    }),
  }
  static override flags = {
    ...runFlags,
    detach: Flags.boolean({
      summary: 'With a live server: return once the workflow is recorded (follow it with status --watch).',
    }),
    workflow: Flags.string({
      summary: 'Without an argument: the unfinished workflow to resume, when there are several.',
      helpValue: 'ID',
    }),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Apply)
    const store = await this.topo(flags.topo)
    const {preflightBeforeApply} = await import('./apply-preflight.js')
    const hints = flags.topo ? {topo: flags.topo} : {}
    await preflightBeforeApply(store, args.target, {json: flags.json, colors: this.colors(flags.color), hints})
    const [{apply}, {anyServerLive}] = await Promise.all([
      import('../engine/apply.js'),
      import('../server/registry.js'),
    ])
    const servers = await anyServerLive(store)
    if (flags.detach && flags['auto-approve']) {
      const {ServerError} = await import('../server/errors.js')
      throw new ServerError(
        'detach_auto_approve',
        '--auto-approve approves gates while apply follows the workflow; with --detach nothing would approve them.',
        {
          hint: 'Drop --detach (apply follows and approves), or drop --auto-approve and approve with shardform approve.',
        },
      )
    }
    if (flags.detach && !servers) {
      const {ServerError} = await import('../server/errors.js')
      const topo = flags.topo ? ` --topo ${flags.topo}` : ''
      throw new ServerError(
        'no_server',
        `--detach needs a running server, and none is live in ${store.url}; nothing was done.`,
        {
          hint: `Start one (shardform server${topo}), or apply without --detach to run the workflow here.`,
        },
      )
    }
    const code = servers
      ? await runWorkflow(store, this.colors(flags.color), flags, (s) => this.handOff(s, args.target, flags), {
          following: true,
        })
      : await runWorkflow(store, this.colors(flags.color), flags, (settings) =>
          apply({...settings, target: args.target, workflowId: flags.workflow}),
        )
    if (code !== 0) this.exit(code)
  }

  /** Servers run it: record the workflow, then follow it (unless --detach). */
  private async handOff(
    settings: RunSettings,
    target: string | undefined,
    flags: {workflow?: string; detach: boolean; 'auto-approve': boolean; 'no-wait': boolean},
  ): Promise<ApplyResult> {
    const [{apply}, {follow}, {whoAmI}] = await Promise.all([
      import('../engine/apply.js'),
      import('../engine/follow.js'),
      import('../engine/workflow.js'),
    ])
    const r = await apply({...settings, target, workflowId: flags.workflow, handOff: true})
    if (r.state !== 'recorded' || flags.detach) return r
    if (!r.created) settings.ui?.info?.(`Following workflow ${r.wf.id}, which the servers run.`)
    return follow(settings.store, {
      workflow: r.wf.id,
      emitFrom: r.created ? 0 : r.wf.events.length,
      signal: settings.signal!,
      ui: settings.ui,
      noWait: flags['no-wait'],
      autoApprove: flags['auto-approve'],
      who: whoAmI(),
    })
  }
}
