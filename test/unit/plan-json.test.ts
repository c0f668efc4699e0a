import {expect, it} from 'vitest'
import {plan, planToJSON} from '../../src/plan/index.js'
import {validatePlan as validate} from '../helpers/plan-schema.js'
import {guestbook, stateOf} from '../helpers/state.js'

it.each([
  ['1-shard.yaml', '2-shards.yaml'],
  ['2-shards.yaml', '4-shards.yaml'],
  ['2-shards.yaml', '2-shards.yaml'],
])('plan --json for %s → %s follows schemas/plan.schema.json', (from, to) => {
  const j = planToJSON(plan(stateOf(guestbook(from)), guestbook(to)))
  expect(validate(j) ? [] : validate.errors).toEqual([])
})

it('the schema rejects an object without its required fields (so the check above can fail)', () => {
  expect(validate({format_version: '1', keyspace: 'x'})).toBe(false)
})

it('estimates (measured or skipped) and pre-flight results are part of the schema, and checked', () => {
  const p = plan(stateOf(guestbook('1-shard.yaml')), guestbook('2-shards.yaml'))
  p.estimates = {
    ran: true,
    method: 'exact',
    sources: [{shard: '0', rows: 4, bytes: 16384, tables: [{name: 'messages', rows: 4, bytes: 16384}]}],
    destinations: [
      {shard: '-80', rows: 3, bytes: 12288, share: 0.75},
      {shard: '80-', rows: 1, bytes: 4096, share: 0.25},
    ],
    skew: 1.5,
    sample: {rows: 4},
    rates: {copy_rows_per_second: 1e5, diff_rows_per_second: 2.5e5, apply_rows_per_second: 1100, source: 'defaults'},
    write_rows_per_second: 0,
    durations: {copy_seconds: 0, catchup_seconds: null, diff_seconds: 0},
  }
  const j = {...planToJSON(p), preflight: {ran: false, skipped: '--offline', checks: []}}
  expect(validate(j) ? [] : validate.errors).toEqual([])
  expect(validate({...j, estimates: {ran: false, skipped: 'snapshot'}})).toBe(true)
  expect(validate({...j, estimates: {ran: true}})).toBe(false)
  expect(
    validate({...j, preflight: {ran: true, checks: [{id: 'x', status: 'maybe', target: 't', summary: 's'}]}}),
  ).toBe(false)
})
