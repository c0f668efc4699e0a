// Human plan output in the Terraform manner (the text view of `plan` and `show`, and the plan `apply` shows).
import {formatBytes, formatDuration} from '../../estimate/model.js'
import type {Change, Plan, PlanEstimates} from '../../plan/types.js'
import type {Colors} from '../../util/color.js'
import {printable} from '../../util/printable.js'

const SYMBOL: Record<Change['action'], string> = {create: '+', retire: '-', update: '~', move: '→'}

function paint(c: Colors, action: Change['action'], s: string): string {
  return action === 'create'
    ? c.green(s)
    : action === 'retire'
      ? c.red(s)
      : action === 'update'
        ? c.yellow(s)
        : c.cyan(s)
}

export function renderPlanText(plan: Plan, c: Colors, topoUrl?: string): string {
  const out: string[] = []
  const where = topoUrl ? ` (topology ${topoUrl})` : ''
  if (plan.kind === 'noop') {
    out.push(`No changes. Keyspace ${plan.keyspace} matches ${plan.desired.file}${where}.`)
    return out.join('\n') + '\n'
  }
  if (plan.kind === 'revert' && plan.revert) {
    out.push(
      `shardform will revert workflow ${c.bold(plan.revert.workflow)} (applying ${plan.revert.layout}) so that keyspace ${c.bold(plan.keyspace)} matches ${plan.desired.file}${where}.`,
    )
    out.push(`That workflow is ${plan.revert.stage}: ${plan.revert.reason}.`)
  } else {
    const verb = plan.kind === 'reshard' ? 'reshard' : 'update'
    out.push(`shardform will ${verb} keyspace ${c.bold(plan.keyspace)} to match ${plan.desired.file}${where}.`)
  }
  out.push('')
  out.push(
    `Actions: ${c.green('+ create')}  ${c.red('- retire')}  ${c.yellow('~ update')}  ${c.cyan('→ move traffic')}`,
  )
  out.push('')
  const width = Math.max(...plan.changes.map((ch) => `${ch.kind} ${ch.name}`.length))
  for (const ch of plan.changes) {
    const head = `${ch.kind} ${ch.name}`.padEnd(width)
    out.push(paint(c, ch.action, `  ${SYMBOL[ch.action]} ${head}`) + (ch.detail ? `  ${printable(ch.detail)}` : ''))
    if (ch.kind === 'vschema' && plan.vschemaDiff) {
      // Table and column names are free text: control characters in them are shown escaped, never sent raw.
      for (const line of plan.vschemaDiff.split('\n').map(printable)) {
        const colored = line.startsWith('+')
          ? c.green(line)
          : line.startsWith('-')
            ? c.red(line)
            : line.startsWith('@@')
              ? c.cyan(line)
              : line
        out.push(`      ${colored}`)
      }
    }
  }
  out.push('')
  out.push('Phases (in order; a phase starts only when every task of the previous one is done):')
  const taskWidth = Math.max(...plan.phases.flatMap((ph) => ph.tasks.map((t) => t.id.length)))
  plan.phases.forEach((ph, i) => {
    out.push(
      `  ${String(i + 1).padStart(2)}. ${c.bold(ph.name)}  ${ph.mode}, gate: ${gateText(ph.gate, ph.tasks.length)}`,
    )
    for (const t of ph.tasks) out.push(`        ${t.id.padEnd(taskWidth)}  ${c.dim(t.detail)}`)
  })
  if (plan.notes.length) {
    out.push('')
    for (const n of plan.notes) out.push(`Note: ${n}`)
  }
  if (plan.estimates) {
    out.push('')
    out.push(...renderEstimatesText(plan.estimates, c))
  }
  out.push('')
  out.push(c.bold(summaryLine(plan)))
  return out.join('\n') + '\n'
}

function gateText(gate: string, tasks: number): string {
  if (gate === 'none') return 'none'
  if (gate === 'phase') return 'phase (one approval)'
  return tasks > 1 ? 'canary (approve the first task, then the rest)' : 'canary (approve the task)'
}

export function summaryLine(plan: Plan): string {
  const s = plan.summary
  const parts = [
    s.create && `${s.create} to create`,
    s.retire && `${s.retire} to retire`,
    s.update && `${s.update} to update`,
    s.move && `${s.move} traffic move${s.move === 1 ? '' : 's'}`,
  ].filter(Boolean)
  const phases = plan.phases.length
  return `Plan: ${parts.join(', ')}; ${s.tasks} task${s.tasks === 1 ? '' : 's'} in ${phases} phase${phases === 1 ? '' : 's'}.`
}

/** The compact "Estimates" block: sizes per source and predicted per destination, skew, durations. */
export function renderEstimatesText(e: PlanEstimates, c: Colors): string[] {
  if (!e.ran) return [`Estimates: skipped (${printable(e.skipped)}).`]
  const rows: string[][] = [['shard', 'side', 'rows', 'size', 'share']]
  for (const s of e.sources) rows.push([s.shard, 'source', s.rows.toLocaleString('en-US'), formatBytes(s.bytes), ''])
  for (const d of e.destinations)
    rows.push([d.shard, 'destination', d.rows.toLocaleString('en-US'), formatBytes(d.bytes), percent(d.share)])
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  const method = e.method === 'exact' ? 'exact counts' : 'information_schema, approximate'
  const out = [c.bold(`Estimates (${method}; ${e.sample.rows} keyspace ids sampled):`)]
  for (const r of rows)
    out.push(('  ' + r.map((v, i) => (i >= 2 ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ')).trimEnd())
  const skewText = `skew ${e.skew.toFixed(2)} (largest destination / mean)`
  out.push(`  ${e.skew > 1.5 ? c.yellow(skewText) : skewText}`)
  const d = e.durations
  out.push(
    `  estimated copy ${formatDuration(d.copy_seconds)}, catch-up ${formatDuration(d.catchup_seconds)}, diff ${formatDuration(d.diff_seconds)} (rates: ${e.rates.source})`,
  )
  return out
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`
}
