// Benchmark output: one JSON line per figure on stdout, progress on stderr, and the figures collected for RESULTS.md.

export interface Figure {
  /** Stable identifier, e.g. "copy_rows_per_s". */
  figure: string
  value: number
  unit: string
  /** What bounds the figure, measured in the same run (omitted when there is none). */
  baseline?: string
  baseline_value?: number
  /** value / baseline_value (for "lower is better" figures too; the goal says which way). */
  ratio?: number
  goal?: string
  /** Whether the goal was met (undefined: no goal, or nothing to judge). */
  met?: boolean
  /** Anything else worth keeping (timings, CPU split, counts). */
  detail?: Record<string, unknown>
}

const collected: Figure[] = []
const notes: Array<{section: string; lines: string[]}> = []

const round = (n: number, digits = 3): number => {
  if (!Number.isFinite(n)) return n
  const a = Math.abs(n)
  const d = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : digits
  return Math.round(n * 10 ** d) / 10 ** d
}

export function ratio(value: number, base: number | undefined): number | undefined {
  if (base === undefined || !Number.isFinite(base) || base === 0) return undefined
  return Math.round((value / base) * 1000) / 1000
}

/** Print a figure as one JSON line on stdout and keep it for the report. */
export function emit(f: Figure): Figure {
  const out: Figure = {
    figure: f.figure,
    value: round(f.value),
    unit: f.unit,
    ...(f.baseline !== undefined ? {baseline: f.baseline} : {}),
    ...(f.baseline_value !== undefined ? {baseline_value: round(f.baseline_value)} : {}),
    ...(f.ratio !== undefined ? {ratio: f.ratio} : {}),
    ...(f.goal !== undefined ? {goal: f.goal} : {}),
    ...(f.met !== undefined ? {met: f.met} : {}),
    ...(f.detail ? {detail: f.detail} : {}),
  }
  collected.push(out)
  process.stdout.write(JSON.stringify(out) + '\n')
  return out
}

export function figures(): Figure[] {
  return collected
}

/** Free text for the report's details section (CPU split, phase timings, what was observed). */
export function note(section: string, ...lines: string[]): void {
  let s = notes.find((n) => n.section === section)
  if (!s) notes.push((s = {section, lines: []}))
  s.lines.push(...lines)
}

export function allNotes(): Array<{section: string; lines: string[]}> {
  return notes
}

const t0 = Date.now()
/** A progress line on stderr, prefixed with the seconds since the run began. */
export function log(message: string): void {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${message}\n`)
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  if (Math.abs(n) >= 10_000) return `${Math.round(n / 1000)}k`
  if (Math.abs(n) >= 100) return String(Math.round(n))
  return String(Math.round(n * 100) / 100)
}
