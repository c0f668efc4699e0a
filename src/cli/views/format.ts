// Formatting shared by the views: times, durations, task progress, and one human line per workflow event.
import type {TaskProgress, WorkflowEvent} from '../../engine/types.js'
import {printable} from '../../util/printable.js'

export function clock(iso: string | undefined): string {
  if (!iso) return '--:--:--'
  const d = new Date(iso)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** "2026-11-26 10:15:00" in local time. */
export function dateTime(iso: string | undefined): string {
  if (!iso) return '-'
  const d = new Date(iso)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clock(iso)}`
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1)
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?'
  if (s < 60) return `${Math.round(s)}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** "120000/1000000 rows, 98000 rows/s, ETA 9s, lag 0.4s" */
export function formatProgress(p: TaskProgress | undefined, sep = ', '): string {
  if (!p) return ''
  const unit = p.unit ?? ''
  const parts: string[] = []
  if (p.done !== undefined)
    parts.push(`${num(p.done)}${p.total !== undefined ? `/${num(p.total)}` : ''}${unit ? ` ${unit}` : ''}`)
  if (p.rate !== undefined) parts.push(`${num(Math.round(p.rate))} ${unit || 'items'}/s`)
  if (p.etaSeconds !== undefined) parts.push(`ETA ${formatSeconds(p.etaSeconds)}`)
  if (p.lagMs !== undefined) parts.push(`lag ${num(p.lagMs)} ms`)
  else if (p.lagSeconds !== undefined) parts.push(`lag ${num(p.lagSeconds)}s`)
  if (p.lagEvents !== undefined) parts.push(`${num(p.lagEvents)} events behind`)
  if (p.message) parts.push(printable(p.message))
  return parts.join(sep)
}

/** One human line for a workflow event (without the time). Messages can quote names read from MySQL (tables,
 * triggers): control characters in them are shown escaped, never sent raw to the terminal. */
export function eventText(e: WorkflowEvent): string {
  const msg = printable(e.message)
  switch (e.type) {
    case 'task_started':
    case 'task_done':
    case 'task_interrupted':
    case 'task_failed':
    case 'log':
      return `${e.task}: ${msg}`
    case 'waiting':
      return msg.replace(/^waiting for approval/, 'Waiting for approval')
    case 'approved':
      return `${msg.replace(/^approved/, 'Approved')} by ${e.who}`
    default:
      return msg.charAt(0).toUpperCase() + msg.slice(1)
  }
}
