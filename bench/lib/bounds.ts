// "Where a goal is not met": for each figure that missed its goal, what bounds it, computed from the same run.
// A rate measured with the CPU of every process it used gives its CPU per unit of work; on a machine of N cores the
// work can go no faster than N cores over that, so its ratio to the baseline has a ceiling. A fresh CLI process pays
// Node's and the framework's start before any shardform code runs.
import {cpus} from 'node:os'
import type {Figure} from './out.js'
import {ownCores} from './proc.js'

type Cores = Record<string, number>

const sum = (c: Cores) => ownCores(c).reduce((s, [, v]) => s + v, 0)
const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits
const fmtRate = (v: number) => Math.round(v).toLocaleString('en-US')

/** The number a goal like "≥ 3 (issue 15)" or "> 1.0" asks of the ratio. */
function goalRatio(goal: string | undefined): number | undefined {
  const m = /[≥>]\s*(\d+(?:\.\d+)?)/.exec(goal ?? '')
  return m ? Number(m[1]) : undefined
}

function rateBound(f: Figure, machineCores: number): string | undefined {
  const d = f.detail as {cpuCores?: Cores; baselineCpuCores?: Cores} | undefined
  if (!d?.cpuCores || !d.baselineCpuCores || !f.baseline_value) return undefined
  const ours = sum(d.cpuCores)
  const theirs = sum(d.baselineCpuCores)
  if (!ours || !theirs) return undefined
  const unit = f.unit.replace(/\/s$/, '').replace(/s$/, '')
  const perUnit = (cores: number, rate: number) => round((cores / rate) * 1e6, 1)
  const ceiling = (machineCores * f.value) / ours
  const top = ownCores(d.cpuCores)
    .slice(0, 4)
    .map(([k, v]) => `${k} ${perUnit(v, f.value)}`)
    .join(', ')
  const want = goalRatio(f.goal)
  return (
    `${perUnit(ours, f.value)} µs of CPU per ${unit} over all its processes (${top}), the baseline ${perUnit(theirs, f.baseline_value)} µs. ` +
    `With all ${machineCores} cores to itself it could reach ${fmtRate(ceiling)} ${f.unit} = ${round(ceiling / f.baseline_value)}× the baseline` +
    (want ? `; the goal needs ${want}× (${fmtRate(want * f.baseline_value)} ${f.unit})` : '') +
    `.${singleThreadBound(d.cpuCores, f)}${pagesBound(f)} It ran at ${round(ours, 2)} cores` +
    (d.cpuCores['cpu pressure'] !== undefined
      ? ` with the machine under CPU pressure ${Math.round(d.cpuCores['cpu pressure'] * 100)}% of the time`
      : '') +
    '.'
  )
}

/**
 * shardform's own process runs its JavaScript on one thread: whatever the cores, it cannot go faster than one core
 * over its CPU per unit of work. Said when that ceiling is below the goal.
 */
function singleThreadBound(cores: Cores, f: Figure): string {
  const node = ownCores(cores).find(([k]) => k.startsWith('node'))
  const want = goalRatio(f.goal)
  if (!node || !want || !f.baseline_value) return ''
  const ceiling = f.value / node[1]
  if (ceiling >= want * f.baseline_value) return ''
  return (
    ` Its ${node[0]} process alone, one thread of JavaScript, took ${round((node[1] / f.value) * 1e6, 1)} µs per ${f.unit.replace(/\/s$/, '').replace(/s$/, '')}:` +
    ` on any number of cores it could not pass ${fmtRate(ceiling)} ${f.unit} = ${round(ceiling / f.baseline_value)}× the baseline.`
  )
}

/**
 * A rate whose appliers write InnoDB pages: when the buffer pool and redo log are small for the table (the local
 * cluster's 64 MB), flushing pages is much of each applier's CPU, on both sides. Said when both sides were measured.
 */
function pagesBound(f: Figure): string {
  const d = f.detail as {innodbPagesFlushedPer1000?: number; baselineInnodbPagesFlushedPer1000?: number} | undefined
  if (d?.innodbPagesFlushedPer1000 === undefined || d.baselineInnodbPagesFlushedPer1000 === undefined) return ''
  const unit = f.unit.replace(/\/s$/, '')
  return (
    ` InnoDB flushed ${d.innodbPagesFlushedPer1000} pages per 1000 ${unit} on its instances together, the baseline` +
    ` ${d.baselineInnodbPagesFlushedPer1000}: much of every applier's CPU goes to flushing pages, not to applying` +
    ` (\`--buffer-pool-mb\` and \`--redo-mb\` large enough for the table remove it on both sides).`
  )
}

function cliBound(f: Figure, all: Figure[]): string | undefined {
  if (!f.figure.endsWith('_cli_ms') && f.figure !== 'plan_cold_start_ms') return undefined
  const framework = all.find((x) => x.figure === 'cli_framework_load_ms')
  if (!framework) return undefined
  const warm = f.figure === 'plan_cold_start_ms' ? undefined : f.baseline_value
  const rest = f.value - framework.value - (warm ?? 0)
  return (
    `a fresh process spends ${round(framework.value, 0)} ms starting Node and loading the CLI framework before any shardform code runs (cli_framework_load_ms; \`node -e 0\` alone ${round(framework.baseline_value ?? 0, 0)} ms)` +
    (warm !== undefined ? `; the same work warm takes ${round(warm, 0)} ms` : '') +
    `; the remaining ${round(Math.max(0, rest), 0)} ms are shardform's own start: loading its modules, reading the layout and the topology, and the work run cold (not yet optimised by V8).`
  )
}

/** One line per figure that missed its goal. */
export function boundLines(figures: Figure[], machineCores = cpus().length): string[] {
  return figures
    .filter((f) => f.met === false)
    .map((f) => {
      const why = rateBound(f, machineCores) ?? cliBound(f, figures)
      return `**${f.figure}** (${f.ratio ?? f.value}, goal ${f.goal}): ${why ?? 'see its section below (CPU of each process, profiles with --profile).'}`
    })
}
