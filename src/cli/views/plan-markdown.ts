// The plan as GitHub-flavoured markdown, for a pull request comment: summary, estimates, pre-flight, phases, vschema diff.
import {formatBytes, formatDuration} from '../../estimate/model.js'
import type {Change, Plan, PlanEstimates, PreflightReport} from '../../plan/types.js'
import {printable} from '../../util/printable.js'
import {percent, summaryLine} from './plan-text.js'

/**
 * Text from a layout, a vschema or MySQL, safe in markdown prose and table cells: control characters escaped,
 * HTML special characters as entities, inline markdown punctuation (pipes, backticks, emphasis, links, strike)
 * backslash-escaped,
 * and no line breaks (a cell is one line).
 */
export function md(text: string): string {
  return printable(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_[\]|~]/g, (ch) => `\\${ch}`)
}

/** A fenced code block whose fence is longer than any backtick run inside (so the content cannot close it). */
export function fenced(lang: string, body: string): string {
  const longest = Math.max(2, ...(body.match(/`+/g) ?? []).map((r) => r.length))
  const fence = '`'.repeat(longest + 1)
  return `${fence}${lang}\n${body.split('\n').map(printable).join('\n')}\n${fence}`
}

function table(head: string[], rows: string[][], right: number[] = []): string[] {
  const align = head.map((_, i) => (right.includes(i) ? '---:' : '---'))
  return [`| ${head.join(' | ')} |`, `| ${align.join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)]
}

const SYMBOL: Record<Change['action'], string> = {create: '+', retire: '-', update: '~', move: '→'}

export function renderPlanMarkdown(plan: Plan, preflight?: PreflightReport): string {
  const out: string[] = []
  const ks = md(plan.keyspace)
  const file = md(plan.desired.file)
  if (plan.kind === 'noop') {
    out.push(`### shardform plan: no changes`, '', `Keyspace **${ks}** matches ${file}.`)
    return out.join('\n') + '\n'
  }
  out.push(`### shardform plan: ${plan.kind} of keyspace ${ks}`, '')
  out.push(`**${md(summaryLine(plan))}** Layout: ${file}.`)
  if (plan.revert)
    out.push('', `Reverts workflow ${md(plan.revert.workflow)} (${md(plan.revert.stage)}): ${md(plan.revert.reason)}.`)
  out.push('', '#### Changes', '')
  out.push(
    ...table(
      ['', 'kind', 'name', 'detail'],
      plan.changes.map((ch) => [SYMBOL[ch.action], ch.kind, md(ch.name), ch.detail ? md(ch.detail) : '']),
    ),
  )
  if (plan.estimates) out.push('', ...estimatesMarkdown(plan.estimates))
  if (preflight) out.push('', ...preflightMarkdown(preflight))
  out.push('', `<details><summary>Phases (${plan.phases.length}, ${plan.summary.tasks} tasks)</summary>`, '')
  plan.phases.forEach((ph, i) => {
    out.push(`${i + 1}. **${ph.name}** (${ph.mode}, gate: ${ph.gate})`)
    for (const t of ph.tasks) out.push(`    - ${md(t.id)}: ${md(t.detail)}`)
  })
  out.push('', '</details>')
  if (plan.vschemaDiff) out.push('', '#### VSchema diff', '', fenced('diff', plan.vschemaDiff))
  for (const n of plan.notes) out.push('', `> **Note:** ${md(n)}`)
  return out.join('\n') + '\n'
}

function estimatesMarkdown(e: PlanEstimates): string[] {
  if (!e.ran) return ['#### Estimates', '', `Skipped: ${md(e.skipped)}.`]
  const rows = [
    ...e.sources.map((s) => [md(s.shard), 'source', s.rows.toLocaleString('en-US'), formatBytes(s.bytes), '']),
    ...e.destinations.map((d) => [
      md(d.shard),
      'destination',
      d.rows.toLocaleString('en-US'),
      formatBytes(d.bytes),
      percent(d.share),
    ]),
  ]
  const d = e.durations
  return [
    '#### Estimates',
    '',
    ...table(['shard', 'side', 'rows', 'size', 'share'], rows, [2, 3, 4]),
    '',
    `Skew ${e.skew.toFixed(2)} (largest destination / mean) from ${e.sample.rows} sampled keyspace ids; sizes from ${e.method === 'exact' ? 'exact counts' : 'information\\_schema (approximate)'}. ` +
      `Estimated copy ${md(formatDuration(d.copy_seconds))}, catch-up ${md(formatDuration(d.catchup_seconds))}, diff ${md(formatDuration(d.diff_seconds))} (rates: ${md(e.rates.source)}).`,
  ]
}

const STATUS: Record<string, string> = {pass: '✅ pass', warn: '⚠️ warn', fail: '❌ fail'}

function preflightMarkdown(p: PreflightReport): string[] {
  if (!p.ran) return ['#### Pre-flight checks', '', `Skipped: ${md(p.skipped ?? 'not run')}.`]
  return [
    '#### Pre-flight checks',
    '',
    ...table(
      ['status', 'check', 'target', 'summary', 'fix'],
      p.checks.map((c) => [
        STATUS[c.status] ?? md(c.status),
        md(c.id),
        md(c.target),
        md(c.summary),
        c.fix ? md(c.fix) : '',
      ]),
    ),
  ]
}
