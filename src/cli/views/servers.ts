// `server list` as text: one row per live server, with the workflows and streams it holds.
import type {ServerInfo} from '../../server/registry.js'
import {table} from '../../util/table.js'
import {dateTime} from './format.js'

export function renderServers(servers: ServerInfo[], url: string): string {
  const rows = servers.map((s) => [
    s.id,
    s.host,
    s.pid,
    s.version,
    dateTime(s.startedAt),
    [
      ...s.workflows.map((w) => `${w.keyspace} (${w.operation})`),
      ...(s.streams.length ? [`${s.streams.length} stream(s): ${s.streams.map((x) => x.stream).join(', ')}`] : []),
      ...(s.tasks?.length ? [`${s.tasks.length} task(s): ${s.tasks.map((x) => x.task).join(', ')}`] : []),
    ].join('; ') || '-',
  ])
  return `Live servers in ${url}:\n` + table(['ID', 'HOST', 'PID', 'VERSION', 'STARTED', 'HOLDS'], rows)
}
