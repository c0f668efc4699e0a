// The control plane's pure parts: the fair-share rule, which registrations and claims count as live, which workflow
// records a server may run.
import {hostname} from 'node:os'
import {describe, expect, it} from 'vitest'
import {mayTake} from '../../src/server/fair-share.js'
import {unreadableReason} from '../../src/server/readable.js'
import {checkServerId, claimsOf, isLive, serverInfo} from '../../src/server/registry.js'
import {isErrorCode} from '../../src/errors.js'

describe('fair share', () => {
  it('takes while no other live server holds fewer', () => {
    const held = new Map([
      ['a', 1],
      ['b', 1],
    ])
    expect(mayTake('a', ['a', 'b'], held)).toBe(true)
    expect(mayTake('a', ['a', 'b', 'c'], held)).toBe(false) // c holds none
    expect(mayTake('c', ['a', 'b', 'c'], held)).toBe(true)
  })
  it('a lone server takes everything; servers no longer live do not count', () => {
    expect(mayTake('a', ['a'], new Map([['a', 5]]))).toBe(true)
    expect(mayTake('a', ['a'], new Map([['gone', 0]]))).toBe(true)
  })
})

describe('liveness of registrations and claims', () => {
  const me = {hostname: hostname(), pid: process.pid}
  it('a record of a dead process on this host, or an expired one, is not live', () => {
    expect(isLive(me)).toBe(true)
    expect(isLive({hostname: hostname(), pid: 2 ** 22 + 12345})).toBe(false)
    expect(isLive({...me, expires: Date.now() - 1})).toBe(false)
    expect(isLive({...me, expires: Date.now() + 10_000})).toBe(true)
    // Another host: nothing provable here, the lease decides.
    expect(isLive({hostname: 'elsewhere.example', pid: 2 ** 22 + 12345})).toBe(true)
  })
  it('claims are the live keyspace locks a server took', () => {
    const lock = (server: string | undefined, extra = {}) => ({
      id: 'l1',
      who: 'x',
      operation: 'apply (resume workflow w1)',
      created: '2026-01-01T00:00:00Z',
      ...me,
      ...(server ? {server} : {}),
      ...extra,
    })
    const claims = claimsOf([
      {path: 'keyspaces/ks1/lock', value: lock('s1')},
      {path: 'keyspaces/ks2/lock', value: lock(undefined)}, // an apply, not a server
      {path: 'keyspaces/ks3/lock', value: lock('s2', {expires: 1})}, // expired
      {path: 'keyspaces/ks4/Keyspace', value: lock('s1')}, // not a lock
    ])
    expect([...claims.keys()]).toEqual(['s1'])
    expect(claims.get('s1')).toEqual([
      {keyspace: 'ks1', lock: 'l1', operation: 'apply (resume workflow w1)', since: '2026-01-01T00:00:00Z'},
    ])
  })
  it('the registry record as listed', () => {
    const info = serverInfo(
      {
        id: 'lock1',
        who: 'u@h pid 7',
        operation: 'shardform server s1',
        created: 't',
        hostname: 'h',
        pid: 7,
        serverId: 's1',
        version: '0.1.0',
        startedAt: '2026-01-01T00:00:00Z',
      },
      [],
    )
    expect(info).toEqual({
      id: 's1',
      host: 'h',
      pid: 7,
      version: '0.1.0',
      startedAt: '2026-01-01T00:00:00Z',
      workflows: [],
      workItems: [],
      streams: [],
      tasks: [],
    })
  })
  it('server ids are path-safe names', () => {
    expect(checkServerId('db-1.example_a')).toBe('db-1.example_a')
    for (const bad of ['', '../x', 'a/b', '.hidden', 'x'.repeat(64)]) {
      expect(() => checkServerId(bad)).toThrow(/not a valid server id/)
      try {
        checkServerId(bad)
      } catch (e) {
        expect(isErrorCode(e, 'server.bad_server_id')).toBe(true)
      }
    }
  })
})

describe('records a server may run', () => {
  const wf = {
    id: 'w',
    keyspace: 'ks',
    state: 'waiting',
    plan: {format_version: '1', phases: []},
    tasks: {},
    events: [],
    approvals: [],
  }
  it('a whole record is readable', () => {
    expect(unreadableReason(wf)).toBeUndefined()
  })
  it('damaged or newer records are refused with the reason', () => {
    expect(unreadableReason('x')).toMatch(/not a JSON object/)
    expect(unreadableReason({...wf, plan: undefined})).toMatch(/no plan/)
    expect(unreadableReason({...wf, plan: {format_version: '2', phases: []}})).toMatch(/format version "2".*upgrade/)
    expect(unreadableReason({...wf, events: undefined})).toMatch(/no events/)
  })
})
