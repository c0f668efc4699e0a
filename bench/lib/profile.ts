// `--profile`: V8 CPU profiles of the apply process (node --cpu-prof), summarised as self time per function and per
// module, so a figure's note can say where Node spends its time.
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

interface ProfileNode {
  id: number
  callFrame: {functionName: string; url: string; lineNumber: number}
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** Which part of the program a script URL belongs to. */
function moduleOf(url: string): string {
  if (!url) return '(native / V8)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm) return nm[1]
  const own = /\/(dist|src)\/(.+)$/.exec(url)
  if (own) return own[2].replace(/\.js$/, '.ts')
  if (url.startsWith('node:')) return 'node internals'
  return url.split('/').slice(-2).join('/')
}

export interface ProfileSummary {
  totalMs: number
  /** Self time by module, ms, largest first. */
  modules: Array<[string, number]>
  /** Self time by function, ms, largest first. */
  functions: Array<[string, number]>
}

export function summarizeProfile(file: string, top = 12): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const self = new Map<number, number>()
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)))
  const byModule = new Map<string, number>()
  const byFunction = new Map<string, number>()
  let total = 0
  for (const n of p.nodes) {
    const us = self.get(n.id) ?? 0
    if (!us) continue
    const fn = n.callFrame.functionName
    if (fn === '(idle)' || fn === '(program)') continue
    total += us
    const mod = fn === '(garbage collector)' ? '(garbage collector)' : moduleOf(n.callFrame.url)
    byModule.set(mod, (byModule.get(mod) ?? 0) + us)
    const key = `${fn || '(anonymous)'} [${mod}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}]`
    byFunction.set(key, (byFunction.get(key) ?? 0) + us)
  }
  const sorted = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => [k, Math.round(v / 1000)] as [string, number])
  return {totalMs: Math.round(total / 1000), modules: sorted(byModule), functions: sorted(byFunction)}
}

/** The newest .cpuprofile in `dir`. */
export function newestProfile(dir: string): string | undefined {
  try {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort()
    return files.length ? join(dir, files[files.length - 1]) : undefined
  } catch {
    return undefined
  }
}

export function describeProfile(s: ProfileSummary): string[] {
  const pct = (ms: number) => `${Math.round((ms / Math.max(1, s.totalMs)) * 100)}%`
  return [
    `Node CPU (busy, excluding idle) ${s.totalMs} ms; by module: ${s.modules.map(([k, v]) => `${k} ${pct(v)}`).join(', ')}`,
    `hottest functions (self time): ${s.functions
      .slice(0, 8)
      .map(([k, v]) => `${k} ${pct(v)}`)
      .join(', ')}`,
  ]
}
