import {Args, Flags} from '@oclif/core'
import {BaseCommand} from './base.js'

export default class Show extends BaseCommand {
  static override summary = 'Render a saved plan file.'
  static override examples = ['<%= config.bin %> show reshard.plan', '<%= config.bin %> show reshard.plan --json']
  static override args = {file: Args.string({required: true, description: 'plan file saved by `plan --out`'})}
  static override flags = {
    json: Flags.boolean({summary: 'Print the plan as a versioned JSON object.'}),
    color: Flags.boolean({summary: 'Colour the output (default: on a TTY).', allowNo: true}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Show)
    const {loadPlanFile, planToJSON, renderPlanText} = await import('../plan/index.js')
    const saved = loadPlanFile(args.file)
    const pre = saved.preflight ? {preflight: saved.preflight} : {}
    if (flags.json) this.json({...planToJSON(saved.plan), ...pre})
    else this.out(renderPlanText(saved.plan, this.colors(flags.color)))
    if (!flags.json && pre.preflight && saved.plan.kind !== 'noop') {
      const {renderPreflightText} = await import('../preflight/index.js')
      this.out('\n' + renderPreflightText(pre.preflight, this.colors(flags.color)))
    }
  }
}
