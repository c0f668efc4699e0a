import {Args, Flags} from '@oclif/core'
import {BaseCommand} from './base.js'

export default class PlanCommand extends BaseCommand {
  static override summary = 'Show what apply would do to make the topology match a layout.'
  static override description = `Diffs the layout against the live topology and prints the changes and the ordered phases
with their tasks and gates, then runs read-only pre-flight checks on the plan's tablets (skipped with --offline or a
topology snapshot). Nothing is changed. Exit codes: 0 no changes (or changes without --detailed-exitcode), 2 changes
present with --detailed-exitcode, 1 on any error. A failed check does not change the exit code: it is printed, and
apply refuses to start until it passes.`
  static override examples = [
    '<%= config.bin %> plan plans/guestbook/2-shards.yaml',
    '<%= config.bin %> plan plans/guestbook/2-shards.yaml --out reshard.plan',
    '<%= config.bin %> plan plans/guestbook/2-shards.yaml --json',
  ]
  static override args = {layout: Args.string({required: true, description: 'layout file (YAML)'})}
  static override flags = {
    out: Flags.string({summary: 'Save the plan to FILE for `shardform apply FILE`.', helpValue: 'FILE'}),
    json: Flags.boolean({summary: 'Print the plan as a versioned JSON object.'}),
    'detailed-exitcode': Flags.boolean({summary: 'Exit 2 when there are changes, 0 when there are none.'}),
    color: Flags.boolean({summary: 'Colour the output (default: on a TTY).', allowNo: true}),
    offline: Flags.boolean({summary: 'Do not connect to the tablets: skip the pre-flight checks.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(PlanCommand)
    const [{loadLayout}, {plan, planToJSON, renderPlanText, savePlan}, {readKeyspaceState}] = await Promise.all([
      import('../layout/index.js'),
      import('../plan/index.js'),
      import('../plan/keyspace-state.js'),
    ])
    const layout = loadLayout(args.layout)
    const store = await this.topo(flags.topo)
    const state = await readKeyspaceState(store, layout.keyspace)
    const p = plan(state, layout)
    const {preflightForPlan, renderPreflightText} = await import('../preflight/index.js')
    const preflight = await preflightForPlan(p, state, store, flags.offline)
    if (flags.out) savePlan(flags.out, p, state, preflight)
    if (flags.json) this.json({...planToJSON(p), preflight})
    else {
      this.out(renderPlanText(p, this.colors(flags.color), store.url))
      if (p.kind !== 'noop') this.out('\n' + renderPreflightText(preflight, this.colors(flags.color)))
      if (flags.out)
        this.out(`Saved the plan to ${flags.out}. Apply exactly this plan with: shardform apply ${flags.out}`)
    }
    if (flags['detailed-exitcode'] && p.kind !== 'noop') this.exit(2)
  }
}
