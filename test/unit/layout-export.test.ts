import {describe, expect, it} from 'vitest'
import {exportLayout, layoutObject} from '../../src/layout/export.js'
import {parseLayout} from '../../src/layout/index.js'
import {plan} from '../../src/plan/index.js'
import {isErrorCode} from '../../src/errors.js'
import type {KeyspaceState} from '../../src/plan/keyspace-state.js'
import {guestbook, stateOf} from '../helpers/state.js'
import {makeLayout} from '../helpers/layouts.js'

const NOW = '2026-01-01T00:00:00.000Z'
const roundTrip = (state: KeyspaceState) =>
  plan(state, parseLayout('/x/exported.yaml', exportLayout(state)), {now: NOW})

const TWO_TABLES = `vschema:
  sharded: true
  vindexes:
    hash: { type: hash }
    xx: { type: xxhash }
  tables:
    messages:
      column_vindexes:
        - { column: page, name: hash }
        - { column: author, name: xx }
    users:
      column_vindexes:
        - { column: id, name: xx }
    countries:
      type: reference`

describe('layout export', () => {
  it('guestbook 2 shards: planning the export shows no changes; defaults hold what every tablet shares', () => {
    const state = stateOf(guestbook('2-shards.yaml'))
    expect(roundTrip(state).kind).toBe('noop')
    const o = layoutObject(state)
    expect(o.defaults).toEqual({
      host: '127.0.0.1',
      user: 'app',
      passwordEnv: 'SHARDFORM_MYSQL_PASSWORD',
      adminUser: 'shardform',
      adminPasswordEnv: 'SHARDFORM_ADMIN_PASSWORD',
    })
    const text = exportLayout(state, {source: 'file:/t'})
    expect(text).toContain('- { alias: test-200, type: primary, port: 17200 }')
    expect(text).toContain('"-80":')
  })

  it('guestbook 1 shard (unsharded, shard "0") round-trips', () => {
    expect(roundTrip(stateOf(guestbook('1-shard.yaml'))).kind).toBe('noop')
  })

  it('4 shards, two tables: per-tablet values where tablets differ, TLS paths, no password', () => {
    const state = stateOf(makeLayout(['-40', '40-80', '80-c0', 'c0-'], {vschema: TWO_TABLES}))
    state.tablets[1] = {...state.tablets[1], user: 'other', host: '127.0.0.2', tls: {ca: '/etc/ca.pem'}}
    state.tablets[4] = {...state.tablets[4], passwordEnv: 'OTHER_PW'}
    const p = roundTrip(state)
    expect(p.kind).toBe('noop')
    const o = layoutObject(state) as {defaults: Record<string, unknown>; shards: Record<string, {tablets: object[]}>}
    expect(o.defaults).toEqual({adminUser: 'shardform', adminPasswordEnv: 'SHARDFORM_ADMIN_PASSWORD'})
    expect(o.shards['-40'].tablets[1]).toMatchObject({user: 'other', host: '127.0.0.2', tls: {ca: '/etc/ca.pem'}})
    expect(Object.keys(o.shards)).toEqual(['-40', '40-80', '80-c0', 'c0-'])
    const text = exportLayout(state)
    expect(text).not.toMatch(/password:/i)
    expect(text).toContain('passwordEnv: OTHER_PW')
  })

  it('a changed topology is not a no-op: the export follows the records', () => {
    const state = stateOf(guestbook('2-shards.yaml'))
    const text = exportLayout(state).replace('port: 17201', 'port: 17299')
    expect(plan(state, parseLayout('/x/e.yaml', text), {now: NOW}).summary.update).toBe(1)
  })

  it('refuses while a workflow is in progress', () => {
    const state = stateOf(guestbook('2-shards.yaml'))
    state.activeWorkflows = [{id: 'wf-1', state: 'running', layoutFile: 'x.yaml'}]
    expect(() => exportLayout(state)).toThrow(/workflow in progress/)
    try {
      exportLayout(state)
    } catch (err) {
      expect(isErrorCode(err, 'layout.export')).toBe(true)
    }
  })
})
