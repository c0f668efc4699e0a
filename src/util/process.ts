// Is a process alive, what does it run, when did it start: one answer for the whole code base (Linux /proc).
import {readFileSync} from 'node:fs'

interface ProcStat {
  state: string
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  startTicks: string
}

function procStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) S ppid …": comm may hold spaces and parentheses, so read the fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return {state: rest[0], startTicks: rest[19]}
  } catch {
    return undefined
  }
}

/** A live process has this pid (a zombie is not alive: it has exited and only waits to be reaped). */
export function processAlive(pid: number): boolean {
  const st = procStat(pid)
  return st !== undefined && st.state !== 'Z' && st.state !== 'X'
}

/**
 * When the process with this pid started (an opaque token): the same pid with another start time is another process.
 * Undefined when no such process lives.
 */
export function processStartTime(pid: number): string | undefined {
  const st = procStat(pid)
  return st && st.state !== 'Z' && st.state !== 'X' ? st.startTicks : undefined
}

/** The argv of a live process (empty when it is gone or a zombie). */
export function processArgv(pid: number): string[] {
  if (!processAlive(pid)) return []
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((s) => s !== '')
  } catch {
    return []
  }
}
