// `server list` as text: one row per live server, with the workflows it holds.
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
    s.workflows.length ? s.workflows.map((w) => `${w.keyspace} (${w.operation})`).join('; ') : '-',
  ])
  return `Live servers in ${url}:\n` + table(['ID', 'HOST', 'PID', 'VERSION', 'STARTED', 'HOLDS'], rows)
}
