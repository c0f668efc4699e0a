import {Args, Flags} from '@oclif/core'
import {BaseCommand} from './base.js'

export default class Approve extends BaseCommand {
  static override summary = 'Approve the gate a workflow waits at (from another terminal or a CI job).'
  static override description = `Without flags: approves the gate open now. Canary gates have two stages: --first (the first task),
then --rest (the remaining tasks, once the first is done). --all approves every remaining stage of the phase.
A waiting apply sees the approval at once; with --no-wait, run apply again to continue. Refuses (exit 1) when
nothing waits or the gate named is not open.`
  static override examples = [
    '<%= config.bin %> approve test_keyspace',
    '<%= config.bin %> approve test_keyspace --phase diff --rest',
    '<%= config.bin %> approve test_keyspace --phase clone --all',
  ]
  static override args = {keyspace: Args.string({required: true, description: 'keyspace of the waiting workflow'})}
  static override flags = {
    phase: Flags.string({summary: 'The phase whose gate to approve (default: the current one).', helpValue: 'PHASE'}),
    first: Flags.boolean({summary: 'Approve the first task of a canary gate.', exclusive: ['rest', 'all']}),
    rest: Flags.boolean({
      summary: 'Approve the remaining tasks of a canary gate (after the first is done).',
      exclusive: ['first', 'all'],
    }),
    all: Flags.boolean({summary: 'Approve every remaining stage of the phase.', exclusive: ['first', 'rest']}),
    json: Flags.boolean({summary: 'Print the approval as JSON.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Approve)
    const store = await this.topo(flags.topo)
    const stage = flags.first ? 'first' : flags.rest ? 'rest' : flags.all ? 'all' : undefined
    const [{approveWorkflow}, {describeStage}] = await Promise.all([
      import('../engine/commands.js'),
      import('../engine/workflow.js'),
    ])
    const {wf, approval, stage: approved} = await approveWorkflow(store, args.keyspace, {phase: flags.phase, stage})
    if (flags.json) return this.json({workflow: wf.id, approval})
    this.out(`Approved ${describeStage(approved)} in workflow ${wf.id} (as ${approval.by}).`)
  }
}
