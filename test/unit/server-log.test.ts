// The server's log lines: text worded as apply words events, JSON one object per line; progress thinned per task.
import {describe, expect, it} from 'vitest'
import {serverLogger} from '../../src/cli/views/server-log.js'
import type {ServerLog} from '../../src/server/server.js'

function capture(format: 'text' | 'json') {
  const lines: string[] = []
  const out = {write: (s: string) => lines.push(s.trimEnd())} as unknown as NodeJS.WritableStream
  return {log: serverLogger(format, out, 60_000), lines}
}

const at = '2026-01-01T10:00:00.000Z'
const event: ServerLog = {
  at,
  server: 's1',
  type: 'workflow',
  message: '',
  workflow: 'w1',
  keyspace: 'ks',
  event: {
    kind: 'event',
    workflow: 'w1',
    event: {at, who: 'x', type: 'task_started', task: 'clone/0', message: 'started'},
  },
}
const progress = (done: number): ServerLog => ({
  at,
  server: 's1',
  type: 'progress',
  message: '',
  workflow: 'w1',
  event: {kind: 'progress', workflow: 'w1', task: 'clone/0', at, progress: {done, total: 10, unit: 'rows'}},
})

describe('server log', () => {
  it('text: one line per event, naming the server and the workflow', () => {
    const {log, lines} = capture('text')
    log({at, server: 's1', type: 'registered', message: 'server s1 registered'})
    log(event)
    log(progress(1))
    log(progress(2)) // within the progress interval: not logged
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\] s1 server s1 registered$/)
    expect(lines[1]).toMatch(/^\[\d\d:\d\d:\d\d\] s1 w1 clone\/0: started$/)
    expect(lines[2]).toMatch(/s1 w1 clone\/0: 1\/10 rows$/)
  })
  it('json: machine-readable objects', () => {
    const {log, lines} = capture('json')
    log({at, server: 's1', type: 'claimed', message: 'Resuming workflow w1', workflow: 'w1', keyspace: 'ks'})
    log(event)
    log(progress(3))
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      {at, server: 's1', type: 'claimed', message: 'Resuming workflow w1', workflow: 'w1', keyspace: 'ks'},
      {
        at,
        server: 's1',
        type: 'workflow',
        event: 'task_started',
        task: 'clone/0',
        who: 'x',
        message: 'started',
        workflow: 'w1',
        keyspace: 'ks',
      },
      {
        at,
        server: 's1',
        type: 'progress',
        message: '',
        workflow: 'w1',
        task: 'clone/0',
        done: 3,
        total: 10,
        unit: 'rows',
      },
    ])
  })
})
