// The server's log: one line per event. Text: "[time] <server> <workflow event or message>", workflow events worded as
// apply words them (eventText); JSON: one object per line. Progress is logged at most every `progressEveryMs` per task.
import type {ServerLog} from '../../server/server.js'
import {clock, eventText, formatProgress} from './format.js'

export type LogFormat = 'text' | 'json'

export function serverLogger(format: LogFormat, out: NodeJS.WritableStream, progressEveryMs = 10_000) {
  const lastProgress = new Map<string, number>()
  const write = (s: string): void => void out.write(s + '\n')
  return (l: ServerLog): void => {
    const ev = l.event
    if (ev?.kind === 'progress') {
      const key = `${ev.workflow}/${ev.task}`
      const now = Date.now()
      if (now - (lastProgress.get(key) ?? 0) < progressEveryMs) return
      lastProgress.set(key, now)
    }
    if (format === 'json') {
      const {event, ...rest} = l
      if (!event) return write(JSON.stringify(rest))
      if (event.kind === 'progress')
        return write(JSON.stringify({...rest, type: 'progress', task: event.task, ...event.progress}))
      const {type, at, message, ...more} = event.event
      return write(JSON.stringify({...rest, ...more, at, type: 'workflow', event: type, message}))
    }
    const wf = l.workflow ? ` ${l.workflow}` : ''
    if (ev?.kind === 'progress')
      return write(`[${clock(ev.at)}] ${l.server}${wf} ${ev.task}: ${formatProgress(ev.progress)}`)
    if (ev?.kind === 'event') return write(`[${clock(ev.event.at)}] ${l.server}${wf} ${eventText(ev.event)}`)
    write(`[${clock(l.at)}] ${l.server} ${l.message}`)
  }
}
