import {Args, Flags} from '@oclif/core'
import {BaseCommand} from './base.js'
import {runFlags, runWorkflow} from './run-workflow.js'

export default class Apply extends BaseCommand {
  static override summary =
    'Make a keyspace match a layout or a saved plan: run the workflow, or resume the unfinished one.'
  static override description = `With a layout: plans, shows the plan and asks "Do you want to perform these actions?" (on a TTY;
without one, pass --auto-approve or apply a saved plan). With a saved plan: refuses it when the topology changed
since it was made, else runs it without the overall question. Without an argument: resumes the unfinished workflow.
Phases run in order; gates (canary, phase) are asked on a TTY, or wait for \`shardform approve\` from elsewhere.
Every state change is written to the workflow record first, so after a crash or Ctrl-C \`shardform apply\` resumes.
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
    const {apply} = await import('../engine/apply.js')
    const code = await runWorkflow(store, this.colors(flags.color), flags, (settings) =>
      apply({...settings, target: args.target, workflowId: flags.workflow}),
    )
    if (code !== 0) this.exit(code)
  }
}
