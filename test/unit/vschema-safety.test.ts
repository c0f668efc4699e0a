import {describe, expect, it} from 'vitest'
import {plan, PlanError} from '../../src/plan/index.js'
import {movedTables, rerouteAll, vschemaRefusal} from '../../src/plan/vschema-safety.js'
import type {VSchema} from '../../src/keyspace/vschema.js'
import {isErrorCode} from '../../src/errors.js'
import {guestbook, stateOf} from '../helpers/state.js'
import {makeLayout} from '../helpers/layouts.js'
import {parseLayout} from '../../src/layout/index.js'

const NOW = '2026-01-01T00:00:00.000Z'
const TWO = ['-80', '80-']

/** A sharded vschema text for the layout helper. */
function vs(vindexes: string, tables: string): string {
  return `vschema:\n  sharded: true\n  vindexes:\n${vindexes}\n  tables:\n${tables}`
}
const HASH = '    hash: { type: hash }'
const MESSAGES = '    messages:\n      column_vindexes:\n        - { column: page, name: hash }'
const BASE = vs(HASH, MESSAGES)

function refusal(fromShards: string[], from: string, toShards: string[], to: string): PlanError {
  const state = stateOf(makeLayout(fromShards, {vschema: from}))
  try {
    plan(state, makeLayout(toShards, {vschema: to}), {now: NOW})
  } catch (err) {
    expect(err).toBeInstanceOf(PlanError)
    expect(isErrorCode(err, 'plan.unsafe_vschema')).toBe(true)
    return err as PlanError
  }
  throw new Error('expected a refusal')
}
const allowed = (fromShards: string[], from: string, toShards: string[], to: string) =>
  plan(
    stateOf(makeLayout(fromShards, {vschema: from})),
    // New shards get new tablets (aliases and ports of other shards are still registered).
    makeLayout(toShards, {vschema: to, base: toShards.join() === fromShards.join() ? 1000 : 5000}),
    {now: NOW},
  )

describe('vschema safety: refused while rows live on several shards', () => {
  it('guestbook 2-shards: messages hash → xxhash names the table, both vindexes and what to do', () => {
    const from = guestbook('2-shards.yaml')
    const to = {...from, vschema: {...from.vschema, vindexes: {hash: {type: 'xxhash'}}}}
    let err: PlanError | undefined
    try {
      plan(stateOf(from), to, {now: NOW})
    } catch (e) {
      err = e as PlanError
    }
    expect(err).toBeInstanceOf(PlanError)
    expect(err!.summary).toContain('"messages"')
    expect(err!.summary).toContain('hash of page → xxhash of page')
    expect(err!.detail).toContain('2 shards (-80, 80-)')
    expect(err!.detail).toContain('This plan moves no data.')
    expect(err!.hint).toContain('merge every serving shard (-80, 80-) into one shard with the new vschema')
  })

  it('primary vindex type changes', () => {
    const e = refusal(TWO, BASE, TWO, vs('    hash: { type: xxhash }', MESSAGES))
    expect(e.summary).toContain('hash of page → xxhash of page')
  })

  it('primary vindex column changes', () => {
    const e = refusal(TWO, BASE, TWO, vs(HASH, MESSAGES.replace('column: page', 'column: id')))
    expect(e.summary).toContain('hash of page → hash of id')
  })

  it('the named vindex definition changes its params', () => {
    const e = refusal(TWO, BASE, TWO, vs('    hash: { type: hash, params: { salt: "1" } }', MESSAGES))
    expect(e.summary).toContain('"messages"')
  })

  it('the table names another vindex of another type', () => {
    const vindexes = `${HASH}\n    xx: { type: xxhash }`
    refusal(TWO, vs(vindexes, MESSAGES), TWO, vs(vindexes, MESSAGES.replace('name: hash', 'name: xx')))
  })

  it('the order of column_vindexes changes which one is primary', () => {
    const vindexes = `${HASH}\n    xx: { type: xxhash }`
    const two = (a: string, b: string) =>
      `    messages:\n      column_vindexes:\n        - { column: page, name: ${a} }\n        - { column: page, name: ${b} }`
    refusal(TWO, vs(vindexes, two('hash', 'xx')), TWO, vs(vindexes, two('xx', 'hash')))
  })

  it('a sharded table becomes a reference table', () => {
    refusal(TWO, BASE, TWO, vs(HASH, '    messages:\n      type: reference'))
  })

  it('only the changed table is named when others keep their placement', () => {
    const tables = `${MESSAGES}\n    pages:\n      column_vindexes:\n        - { column: id, name: hash }`
    const e = refusal(TWO, vs(HASH, tables), TWO, vs(HASH, tables.replace('column: id', 'column: page_id')))
    expect(e.summary).toContain('"pages"')
    expect(e.summary).not.toContain('"messages"')
  })

  it('a reshard that keeps one serving shard does not copy its rows again', () => {
    const e = refusal(TWO, BASE, ['-80', '80-c0', 'c0-'], vs('    hash: { type: xxhash }', MESSAGES))
    expect(e.detail).toContain('leaves the rows of -80 where they are')
  })

  it('a reshard in two groups routes each group only among its own destinations', () => {
    const e = refusal(TWO, BASE, ['-40', '40-80', '80-c0', 'c0-'], vs('    hash: { type: xxhash }', MESSAGES))
    expect(e.detail).toContain('2 groups')
  })

  it('every serving shard resharded into several shards with a new vindex: refused (the router has one vschema)', () => {
    const e = refusal(TWO, BASE, ['-55', '55-aa', 'aa-'], vs('    hash: { type: xxhash }', MESSAGES))
    expect(e.detail).toContain('copies every row again, but into 3 shards')
    expect(e.hint).toContain('do it in two plans')
  })

  it('a merge of every serving shard into one with a new vschema: allowed, the vschema stored after the cutover', () => {
    const order = (p: ReturnType<typeof plan>) => p.phases.map((ph) => ph.name)
    const merged = allowed(TWO, BASE, ['0'], vs('    hash: { type: xxhash }', MESSAGES))
    expect(merged.groups).toEqual([{range: '0', sources: ['-80', '80-'], destinations: ['0']}])
    expect(order(merged).slice(-3)).toEqual(['migrate_primary', 'apply_vschema', 'retire_sources'])
    // Sharded → unsharded merge (going back from the guestbook's 2 shards to 1).
    const p = plan(stateOf(guestbook('2-shards.yaml')), guestbook('1-shard.yaml'), {now: NOW})
    expect(p.groups).toEqual([{range: '0', sources: ['-80', '80-'], destinations: ['0']}])
    expect(order(p).indexOf('apply_vschema')).toBe(order(p).indexOf('migrate_primary') + 1)
    expect(p.phases.find((ph) => ph.name === 'apply_vschema')!.tasks[0]!.detail).toContain('once one shard serves')
    // A split stores it first: one shard serves until the first traffic move, whatever the vschema says.
    const split = plan(stateOf(guestbook('1-shard.yaml')), guestbook('2-shards.yaml'), {now: NOW})
    expect(order(split)[0]).toBe('apply_vschema')
  })

  it('sharded → unsharded with several shards serving (pure check)', () => {
    const current: VSchema = {
      sharded: true,
      vindexes: {hash: {type: 'hash'}},
      tables: {messages: {column_vindexes: [{column: 'page', name: 'hash'}]}},
    }
    const desired: VSchema = {sharded: false}
    const r = vschemaRefusal({keyspace: 'ks', file: 'l.yaml', current, desired, serving: TWO, groups: []})
    expect(r?.summary).toContain('the vschema becomes unsharded')
    expect(
      vschemaRefusal({keyspace: 'ks', file: 'l.yaml', current: desired, desired: current, serving: TWO, groups: []})
        ?.summary,
    ).toContain('becomes sharded')
  })
})

describe('vschema safety: allowed', () => {
  const kinds = (fromShards: string[], from: string, toShards: string[], to: string) =>
    allowed(fromShards, from, toShards, to).changes.map((c) => `${c.action} ${c.kind}`)

  it('adding a table with a new vindex', () => {
    const to = vs(
      `${HASH}\n    xx: { type: xxhash }`,
      `${MESSAGES}\n    users:\n      column_vindexes:\n        - { column: id, name: xx }`,
    )
    expect(kinds(TWO, BASE, TWO, to)).toEqual(['update vschema'])
  })

  it('adding a secondary (non-first) vindex', () => {
    const to = vs(`${HASH}\n    xx: { type: xxhash }`, `${MESSAGES}\n        - { column: author, name: xx }`)
    expect(kinds(TWO, BASE, TWO, to)).toEqual(['update vschema'])
  })

  it('renaming a vindex without changing its type', () => {
    const to = vs('    h2: { type: hash }', MESSAGES.replace('name: hash', 'name: h2'))
    expect(kinds(TWO, BASE, TWO, to)).toEqual(['update vschema'])
  })

  it('removing a table from the vschema', () => {
    const from = vs(HASH, `${MESSAGES}\n    pages:\n      column_vindexes:\n        - { column: id, name: hash }`)
    expect(kinds(TWO, from, TWO, BASE)).toEqual(['update vschema'])
  })

  it('any change while the keyspace has a single shard', () => {
    expect(kinds(['0'], BASE, ['0'], vs('    hash: { type: xxhash }', MESSAGES))).toEqual(['update vschema'])
    const unsharded = parseLayout(
      'u.yaml',
      'keyspace: test_keyspace\nvschema: { sharded: false }\nshards:\n  "0":\n    tablets:\n      - { alias: t-1, type: primary, port: 29001 }\n',
    )
    const p = plan(stateOf(unsharded), makeLayout(TWO, {vschema: vs('    hash: { type: xxhash }', MESSAGES)}), {
      now: NOW,
    })
    expect(p.kind).toBe('reshard')
  })

  it('rerouteAll: one group with every serving shard as a source', () => {
    const g = (sources: string[]) => ({range: '0', sources, destinations: ['0']})
    expect(rerouteAll(TWO, [g(TWO)])).toBe(true)
    expect(rerouteAll(TWO, [g(['80-'])])).toBe(false)
    expect(rerouteAll(TWO, [g(['-80']), g(['80-'])])).toBe(false)
  })

  it('movedTables: an unchanged vschema moves nothing', () => {
    const v = guestbook('2-shards.yaml').vschema
    expect(movedTables(v, structuredClone(v))).toEqual([])
  })
})
