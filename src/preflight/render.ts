// The "Pre-flight checks" section of `plan` and `apply` (text), and its place in `plan --json`.
import type {PreflightCheck, PreflightReport, PreflightStatus} from '../plan/types.js'
import type {Colors} from '../util/color.js'
import {printable} from '../util/printable.js'
import {humanSeconds} from './server.js'

export function countByStatus(r: PreflightReport): Record<PreflightStatus, number> {
  const n = {pass: 0, warn: 0, fail: 0}
  for (const c of r.checks) n[c.status]++
  return n
}

export function failedChecks(r: PreflightReport): PreflightCheck[] {
  return r.checks.filter((c) => c.status === 'fail')
}

function headline(r: PreflightReport): string {
  const n = countByStatus(r)
  const parts = [
    n.fail && `${n.fail} failed`,
    n.warn && `${n.warn} warning${n.warn === 1 ? '' : 's'}`,
    `${n.pass} passed`,
  ].filter(Boolean)
  return parts.join(', ')
}

/** Many targets of a passed check: the first ten and a count. */
const folded = (targets: string[]) =>
  targets.length > 12
    ? `${targets.slice(0, 10).map(printable).join(', ')}, … (${targets.length} in all)`
    : targets.map(printable).join(', ')

/** One check with its fix, indented under its line. */
function problemLines(c: PreflightCheck, colors: Colors, width: number): string[] {
  const tag = c.status === 'fail' ? colors.red('FAIL') : colors.yellow('WARN')
  const out = [`  ${tag}  ${c.id.padEnd(width)}  ${printable(c.target)}: ${printable(c.summary)}`]
  if (c.fix) out.push(`        ${' '.repeat(width)}  fix: ${printable(c.fix)}`)
  return out
}

/**
 * Failures and warnings one by one with their fixes; passes folded to one line per check. `brief` leaves the passes
 * out (apply prints only what needs attention).
 */
export function renderPreflightText(r: PreflightReport, colors: Colors, opts: {brief?: boolean} = {}): string {
  if (!r.ran)
    return `${colors.bold('Pre-flight checks:')} not run (${r.skipped ?? 'skipped'}); apply runs them before it starts.\n`
  const out = [`${colors.bold('Pre-flight checks')} (read-only): ${headline(r)}.`]
  const width = Math.max(0, ...r.checks.map((c) => c.id.length))
  for (const status of ['fail', 'warn'] as const)
    for (const c of r.checks.filter((x) => x.status === status)) out.push(...problemLines(c, colors, width))
  if (!opts.brief) {
    const passed = new Map<string, string[]>()
    for (const c of r.checks.filter((x) => x.status === 'pass'))
      passed.set(c.id, [...(passed.get(c.id) ?? []), c.target])
    for (const [id, targets] of passed) out.push(`  ${colors.green('ok')}    ${id.padEnd(width)}  ${folded(targets)}`)
    if (r.estimate && r.estimate.rows > 0)
      out.push(
        colors.dim(
          `  (binlog retention measured against ~${r.estimate.rows} rows at ${r.estimate.rows_per_second} rows/s: ${humanSeconds(r.estimate.seconds)})`,
        ),
      )
  }
  if (countByStatus(r).fail)
    out.push(colors.red('apply refuses to start while a check fails; fix them and plan again.'))
  return out.join('\n') + '\n'
}
