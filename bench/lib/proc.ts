// Process accounting from /proc: CPU time (utime+stime) and memory (VmRSS, VmHWM) of named PIDs, sampled over time.
import {readFileSync} from 'node:fs'

/** Clock ticks per second for /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux x86/arm). */
const HZ = 100

export interface CpuReading {
  /** user + system CPU seconds, or undefined when the process is gone. */
  cpu?: number
  rssKb?: number
  hwmKb?: number
}

export function cpuSeconds(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1')
    // The command name (field 2) may contain spaces: fields after the closing parenthesis.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
    // rest[0] is field 3 (state); utime = field 14, stime = field 15.
    return (Number(rest[11]) + Number(rest[12])) / HZ
  } catch {
    return undefined
  }
}

export function memory(pid: number): {rssKb?: number; hwmKb?: number} {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'latin1')
    const kb = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)
      return m ? Number(m[1]) : undefined
    }
    return {rssKb: kb('VmRSS'), hwmKb: kb('VmHWM')}
  } catch {
    return {}
  }
}

export interface Sample {
  at: number
  readings: Record<string, CpuReading>
  /** Whole machine: busy CPU seconds (all cores) and CPU pressure stall seconds (PSI "some"). */
  machine?: {busy: number; stall?: number}
}

/** Busy CPU seconds of the whole machine since boot (/proc/stat: user+nice+system+irq+softirq+steal). */
export function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n')[0]
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / HZ
  } catch {
    return undefined
  }
}

/** Seconds some runnable task waited for a CPU (PSI), since boot. */
export function cpuStallSeconds(): number | undefined {
  try {
    const m = /some .*total=(\d+)/.exec(readFileSync('/proc/pressure/cpu', 'latin1'))
    return m ? Number(m[1]) / 1e6 : undefined
  } catch {
    return undefined
  }
}

/**
 * Samples CPU time and memory of named processes every `intervalMs` until stop(). Afterwards: CPU seconds of each
 * process between two instants (nearest samples), peak RSS, the RSS series.
 */
export class ProcSampler {
  readonly samples: Sample[] = []
  private timer?: NodeJS.Timeout
  private pids: Record<string, number>

  constructor(
    pids: Record<string, number>,
    private readonly intervalMs = 200,
  ) {
    this.pids = {...pids}
  }

  add(name: string, pid: number): void {
    this.pids[name] = pid
    this.sample()
  }

  start(): this {
    this.sample()
    this.timer = setInterval(() => this.sample(), this.intervalMs)
    this.timer.unref()
    return this
  }

  sample(): void {
    const readings: Record<string, CpuReading> = {}
    for (const [name, pid] of Object.entries(this.pids)) {
      const cpu = cpuSeconds(pid)
      if (cpu === undefined) continue
      readings[name] = {cpu, ...memory(pid)}
    }
    const busy = machineBusySeconds()
    this.samples.push({
      at: Date.now(),
      readings,
      ...(busy !== undefined ? {machine: {busy, stall: cpuStallSeconds()}} : {}),
    })
  }

  stop(): this {
    clearInterval(this.timer)
    this.sample()
    return this
  }

  private nearest(at: number): Sample | undefined {
    let best: Sample | undefined
    for (const s of this.samples) if (!best || Math.abs(s.at - at) < Math.abs(best.at - at)) best = s
    return best
  }

  /** CPU seconds used by each process between `from` and `to` (ms timestamps), and the wall seconds between the samples. */
  cpuBetween(from: number, to: number): CpuSplit {
    const a = this.nearest(from)
    const b = this.nearest(to)
    const cpu: Record<string, number> = {}
    if (!a || !b) return {wall: 0, cpu}
    for (const name of Object.keys(this.pids)) {
      const x = a.readings[name]?.cpu
      // A process that started after `from` counts from 0; one gone before `to` counts to its last sample.
      let y = b.readings[name]?.cpu
      if (y === undefined) {
        for (let i = this.samples.indexOf(b); i >= 0 && y === undefined; i--) y = this.samples[i].readings[name]?.cpu
      }
      if (y !== undefined) cpu[name] = Math.max(0, y - (x ?? 0))
    }
    const wall = (b.at - a.at) / 1000
    const machine = a.machine && b.machine ? b.machine.busy - a.machine.busy : undefined
    const stall =
      a.machine?.stall !== undefined && b.machine?.stall !== undefined ? b.machine.stall - a.machine.stall : undefined
    return {wall, cpu, ...(machine !== undefined ? {machine} : {}), ...(stall !== undefined ? {stall} : {})}
  }

  /** Highest VmHWM (or VmRSS) seen for a process, in MB. */
  peakMb(name: string): number | undefined {
    let kb: number | undefined
    for (const s of this.samples) {
      const r = s.readings[name]
      const v = Math.max(r?.hwmKb ?? 0, r?.rssKb ?? 0)
      if (r && (kb === undefined || v > kb)) kb = v
    }
    return kb === undefined ? undefined : kb / 1024
  }

  /** RSS (MB) of a process at `at` (nearest sample). */
  rssMbAt(name: string, at: number): number | undefined {
    let best: Sample | undefined
    for (const s of this.samples)
      if (s.readings[name] && (!best || Math.abs(s.at - at) < Math.abs(best.at - at))) best = s
    const kb = best?.readings[name]?.rssKb
    return kb === undefined ? undefined : kb / 1024
  }
}

export interface CpuSplit {
  wall: number
  /** CPU seconds per named process. */
  cpu: Record<string, number>
  /** Busy CPU seconds of the whole machine (every process, every core). */
  machine?: number
  /** Seconds some runnable task waited for a CPU (PSI some). */
  stall?: number
}

/** "node 0.91, src-102 0.35, … cores; ours 1.3 of 2, whole machine 1.9, CPU pressure 40%" over the interval. */
export function describeCpu(split: CpuSplit): string {
  if (!split.wall) return '(no samples)'
  const entries = Object.entries(split.cpu).sort((a, b) => b[1] - a[1])
  const total = entries.reduce((s, [, v]) => s + v, 0)
  const parts = entries.map(([k, v]) => `${k} ${(v / split.wall).toFixed(2)}`)
  const machine = split.machine !== undefined ? `, whole machine ${(split.machine / split.wall).toFixed(2)}` : ''
  const stall = split.stall !== undefined ? `, CPU pressure ${Math.round((split.stall / split.wall) * 100)}%` : ''
  return `${parts.join(', ')} cores; ours ${(total / split.wall).toFixed(2)} of 2${machine}${stall}; over ${split.wall.toFixed(1)} s`
}

/** Cores used per process over the interval (and by the whole machine, "machine"), for JSON details. */
export function coresUsed(split: CpuSplit): Record<string, number> {
  const out: Record<string, number> = {}
  const r = (v: number) => (split.wall ? Math.round((v / split.wall) * 100) / 100 : 0)
  for (const [k, v] of Object.entries(split.cpu)) out[k] = r(v)
  if (split.machine !== undefined) out.machine = r(split.machine)
  if (split.stall !== undefined) out['cpu pressure'] = r(split.stall)
  return out
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'latin1').split(' ').slice(0, 3).join(' ')
  } catch {
    return '?'
  }
}

/** From coresUsed(): each of our processes and its cores, largest first (the machine totals left out). */
export function ownCores(cores: Record<string, number>): Array<[string, number]> {
  return Object.entries(cores)
    .filter(([k]) => k !== 'machine' && k !== 'cpu pressure')
    .sort((a, b) => b[1] - a[1])
}

/** From coresUsed(): cores used by processes that are not ours (whole machine minus ours) and the CPU pressure. */
export function noiseOf(cores: Record<string, number> | undefined): string | undefined {
  if (!cores || cores.machine === undefined) return undefined
  const ours = ownCores(cores).reduce((s, [, v]) => s + v, 0)
  const others = Math.max(0, cores.machine - ours)
  return `${others.toFixed(2)} cores${cores['cpu pressure'] !== undefined ? `, ${Math.round(cores['cpu pressure'] * 100)}%` : ''}`
}

/** "a 0.5, b 0.3" largest first, the machine totals last. */
export function listCores(cores: Record<string, number>): string {
  const mine = ownCores(cores)
  const tail = [
    cores.machine !== undefined ? `whole machine ${cores.machine}` : '',
    cores['cpu pressure'] !== undefined ? `CPU pressure ${Math.round(cores['cpu pressure'] * 100)}%` : '',
  ].filter(Boolean)
  return [...mine.map(([k, v]) => `${k} ${v}`), ...tail].join(', ')
}
