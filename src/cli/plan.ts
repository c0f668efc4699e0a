import {Args, Flags} from '@oclif/core'
import {BaseCommand} from './base.js'
import {PLAN_FORMATS, type PlanFormat} from './views/plan-view.js'

export default class PlanCommand extends BaseCommand {
  static override summary = 'Show what apply would do to make the topology match a layout.'
  static override description = `Diffs the layout against the live topology and prints the changes and the ordered phases
with their tasks and gates, then reads the plan's tablets (skipped with --offline or a topology snapshot): read-only
pre-flight checks, and for a reshard estimates (rows and bytes per table, a sample of keyspace ids to predict rows per
destination and their skew, how long copy, catch-up and diff should take). Nothing is changed. Exit codes: 0 no
changes (or changes without --detailed-exitcode), 2 changes present with --detailed-exitcode, 1 on any error. A failed
check does not change the exit code: it is printed, and apply refuses to start until it passes.`
  static override examples = [
    '<%= config.bin %> plan plans/guestbook/2-shards.yaml',
    '<%= config.bin %> plan plans/guestbook/2-shards.yaml --out reshard.plan',
    '<%= config.bin %> plan plans/guestbook/2-shards.yaml --json',
    '<%= config.bin %> plan plans/guestbook/2-shards.yaml --topo file:topology.json --format markdown',
  ]
  static override args = {layout: Args.string({required: true, description: 'layout file (YAML)'})}
  static override flags = {
    out: Flags.string({summary: 'Save the plan to FILE for `shardform apply FILE`.', helpValue: 'FILE'}),
    format: Flags.option({options: PLAN_FORMATS, summary: 'Output format (markdown: for a pull request comment).'})(),
    json: Flags.boolean({
      summary: 'Print the plan as a versioned JSON object (same as --format json).',
      exclusive: ['format'],
    }),
    'detailed-exitcode': Flags.boolean({summary: 'Exit 2 when there are changes, 0 when there are none.'}),
    color: Flags.boolean({summary: 'Colour the output (default: on a TTY).', allowNo: true}),
    offline: Flags.boolean({summary: 'Do not connect to the tablets: skip the pre-flight checks and the estimates.'}),
    exact: Flags.boolean({summary: 'Estimates from SELECT COUNT(*) instead of information_schema (slower).'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(PlanCommand)
    const [{loadLayout}, {plan, savePlan}, {readKeyspaceState}, {estimateForPlan}, {planView}] = await Promise.all([
      import('../layout/index.js'),
      import('../plan/index.js'),
      import('../plan/keyspace-state.js'),
      import('../estimate/index.js'),
      import('./views/plan-view.js'),
    ])
    const format: PlanFormat = flags.json ? 'json' : (flags.format ?? 'text')
    const layout = loadLayout(args.layout)
    const store = await this.topo(flags.topo)
    const state = await readKeyspaceState(store, layout.keyspace)
    const p = plan(state, layout)
    const {preflightForPlan} = await import('../preflight/index.js')
    // Both only read the tablets: run them side by side.
    const [estimates, preflight] = await Promise.all([
      estimateForPlan(p, state?.tablets ?? [], store, {offline: flags.offline, exact: flags.exact}),
      preflightForPlan(p, state, store, flags.offline),
    ])
    if (estimates) p.estimates = estimates
    if (flags.out) savePlan(flags.out, p, state, preflight)
    const doc = {plan: p, preflight, topoUrl: store.url}
    this.out(planView(format, this.colors(flags.color)).render(doc).trimEnd())
    if (flags.out && format === 'text')
      this.out(`Saved the plan to ${flags.out}. Apply exactly this plan with: shardform apply ${flags.out}`)
    if (flags['detailed-exitcode'] && p.kind !== 'noop') this.exit(2)
  }
}
