import {Args, Flags} from '@oclif/core'
import {BaseCommand} from './base.js'
import {PLAN_FORMATS, type PlanFormat} from './views/plan-view.js'

export default class Show extends BaseCommand {
  static override summary = 'Render a saved plan file.'
  static override examples = [
    '<%= config.bin %> show reshard.plan',
    '<%= config.bin %> show reshard.plan --json',
    '<%= config.bin %> show reshard.plan --format markdown',
  ]
  static override args = {file: Args.string({required: true, description: 'plan file saved by `plan --out`'})}
  static override flags = {
    format: Flags.option({options: PLAN_FORMATS, summary: 'Output format (markdown: for a pull request comment).'})(),
    json: Flags.boolean({
      summary: 'Print the plan as a versioned JSON object (same as --format json).',
      exclusive: ['format'],
    }),
    color: Flags.boolean({summary: 'Colour the output (default: on a TTY).', allowNo: true}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Show)
    const [{loadPlanFile}, {planView}] = await Promise.all([import('../plan/index.js'), import('./views/plan-view.js')])
    const saved = loadPlanFile(args.file)
    const format: PlanFormat = flags.json ? 'json' : (flags.format ?? 'text')
    const doc = {plan: saved.plan, ...(saved.preflight ? {preflight: saved.preflight} : {})}
    this.out(planView(format, this.colors(flags.color)).render(doc).trimEnd())
  }
}
