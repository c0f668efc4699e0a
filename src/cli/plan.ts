import {Args, Flags} from '@oclif/core'
import {BaseCommand} from './base.js'

export default class PlanCommand extends BaseCommand {
  static override summary = 'Show what apply would do to make the topology match a layout.'
  static override description = `Diffs the layout against the live topology and prints the changes and the ordered phases
with their tasks and gates. Nothing is changed. Exit codes: 0 no changes (or changes without
--detailed-exitcode), 2 changes present with --detailed-exitcode, 1 on any error.`
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
    if (flags.out) savePlan(flags.out, p, state)
    if (flags.json) this.json(planToJSON(p))
    else {
      this.out(renderPlanText(p, this.colors(flags.color), store.url))
      if (flags.out)
        this.out(`Saved the plan to ${flags.out}. Apply exactly this plan with: shardform apply ${flags.out}`)
    }
    if (flags['detailed-exitcode'] && p.kind !== 'noop') this.exit(2)
  }
}
