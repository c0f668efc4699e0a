// The HTTP side's pure parts: --listen addresses, the token file format, the serving map, error bodies.
import {describe, expect, it} from 'vitest'
import {EngineError} from '../../src/engine/workflow.js'
import {errorBody} from '../../src/http/error-body.js'
import {HttpError} from '../../src/http/errors.js'
import {hostOf, isLoopbackHost, parseListen} from '../../src/http/listen.js'
import {servingMap} from '../../src/http/serving.js'
import {parseTokens} from '../../src/http/tokens.js'
import {TopoError} from '../../src/topo/store.js'
import type {ShardRecord, TabletRecord} from '../../src/topo/records.js'

describe('--listen', () => {
  it('parses host:port, a bare port, IPv6 in brackets; knows loopback', () => {
    expect(parseListen('127.0.0.1:7780')).toEqual({host: '127.0.0.1', port: 7780, loopback: true})
    expect(parseListen('7780')).toEqual({host: '127.0.0.1', port: 7780, loopback: true})
    expect(parseListen(':7780')).toEqual({host: '127.0.0.1', port: 7780, loopback: true})
    expect(parseListen('[::1]:80')).toEqual({host: '::1', port: 80, loopback: true})
    expect(parseListen('localhost:1')).toMatchObject({loopback: true})
    expect(parseListen('0.0.0.0:7780')).toMatchObject({host: '0.0.0.0', loopback: false})
    expect(parseListen('[::]:7780')).toMatchObject({host: '::', loopback: false})
    expect(parseListen('10.1.2.3:7780')).toMatchObject({loopback: false})
    expect(parseListen('127.8.9.10:7780')).toMatchObject({loopback: true})
    for (const bad of ['', 'host', '1.2.3.4:99999', 'a b:1', '::1:80', '127.0.0.1:-1'])
      expect(() => parseListen(bad), bad).toThrow(/is not an address to listen on/)
  })

  it('reads the host of a Host header', () => {
    expect(hostOf('127.0.0.1:7780')).toBe('127.0.0.1')
    expect(hostOf('[::1]:7780')).toBe('::1')
    expect(hostOf('localhost')).toBe('localhost')
    expect(isLoopbackHost('LOCALHOST')).toBe(true)
    expect(isLoopbackHost('localhost.evil.example')).toBe(false)
    expect(isLoopbackHost('127.0.0.1.evil.example')).toBe(false)
  })
})

describe('token file', () => {
  const A = 'a'.repeat(16)
  const B = 'b'.repeat(24)
  it('maps each token to its name; comments and blank lines are skipped', () => {
    const t = parseTokens(`# tokens\n\nalice: ${A}\n  bob.smith@ops :   ${B}  \n`, 'f')
    expect(t.size).toBe(2)
    expect(t.nameOf(A)).toBe('alice')
    expect(t.nameOf(B)).toBe('bob.smith@ops')
    expect(t.nameOf(A + 'x')).toBeUndefined()
    expect(t.nameOf('')).toBeUndefined()
  })

  it('refuses bad lines naming file:line, never quoting a token', () => {
    const cases: Array<[string, RegExp]> = [
      [`alice ${A}`, /^f:1: not a token line/],
      [`alice: ${A} extra`, /^f:1: not a token line/],
      [`alice: short`, /^f:1: the token of alice is shorter than 16/],
      [`alice: ${A}\nalice: ${B}`, /^f:2: the name alice appears twice/],
      [`alice: ${A}\nbob: ${A}`, /^f:2: the token of bob is also another name's/],
      [`# nothing`, /^f holds no token/],
    ]
    for (const [text, re] of cases) {
      let msg = ''
      try {
        parseTokens(text, 'f')
      } catch (e) {
        msg = (e as Error).message
      }
      expect(msg, text).toMatch(re)
      expect(msg).not.toContain(A)
      expect(msg).not.toContain(B)
    }
  })
})

describe('serving map', () => {
  const shard = (name: string, start: string, end: string, extra: Partial<ShardRecord> = {}): ShardRecord => ({
    name,
    keyRange: {start, end},
    primary: null,
    servedTypes: [],
    sourceShards: [],
    tabletControls: {},
    frozen: false,
    ...extra,
  })
  const tablet = (alias: string, s: string, type: TabletRecord['type']): TabletRecord => ({
    alias,
    keyspace: 'ks',
    shard: s,
    type,
    host: '127.0.0.1',
    port: 1,
    user: 'app',
    passwordEnv: 'SECRET_ENV',
    adminUser: 'admin',
    adminPasswordEnv: 'ADMIN_ENV',
    database: 'vt_ks',
  })

  it('orders shards by key range; per type the serving shards; tablets without users or password variables', () => {
    const m = servingMap({
      keyspace: {name: 'ks', sharded: true, database: 'vt_ks', vschema: {sharded: true}},
      srvKeyspace: {partitions: {primary: ['0'], replica: ['0'], rdonly: ['-80', '80-']}},
      shards: [
        shard('80-', '80', ''),
        shard('0', '', '', {primary: 'p0', frozen: false}),
        shard('-80', '', '80', {sourceShards: [{keyspace: 'ks', shard: '0', keyRange: {start: '', end: ''}}]}),
      ],
      tablets: [tablet('r1', '-80', 'rdonly'), tablet('p1', '-80', 'primary'), tablet('x', '0', 'replica')],
    })
    expect(m.serving).toEqual({
      primary: [{shard: '0', start: '', end: ''}],
      replica: [{shard: '0', start: '', end: ''}],
      rdonly: [
        {shard: '-80', start: '', end: '80'},
        {shard: '80-', start: '80', end: ''},
      ],
    })
    expect(m.shards.map((s) => s.name)).toEqual(['0', '-80', '80-'])
    expect(m.shards[1]).toMatchObject({serving: ['rdonly'], source_shards: ['0']})
    expect(m.shards[1]!.tablets).toEqual([
      {alias: 'p1', type: 'primary', host: '127.0.0.1', port: 1},
      {alias: 'r1', type: 'rdonly', host: '127.0.0.1', port: 1},
    ])
    expect(JSON.stringify(m)).not.toMatch(/ENV|app|admin/)
  })
})

describe('error bodies', () => {
  it('our errors by kind; fastify 4xx as bad_request; anything else without its text', () => {
    expect(errorBody(new HttpError(404, 'unknown_workflow', 'no such', {hint: 'h'}))).toEqual({
      status: 404,
      body: {error: {code: 'unknown_workflow', message: 'no such', hint: 'h'}},
    })
    expect(errorBody(new EngineError('nothing waits')).status).toBe(409)
    expect(errorBody(new EngineError('held', {code: 'engine.lock_held'})).body.error.code).toBe('locked')
    expect(errorBody(new TopoError('unavailable', 'etcd down')).status).toBe(503)
    expect(errorBody(Object.assign(new Error('bad json'), {statusCode: 400})).body.error.code).toBe('bad_request')
    const internal = errorBody(new TypeError('secret detail at /src/x.ts:1'))
    expect(internal).toEqual({status: 500, body: {error: {code: 'internal', message: expect.any(String)}}})
    expect(JSON.stringify(internal)).not.toContain('secret detail')
  })
})
