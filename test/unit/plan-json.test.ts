import {readFileSync} from 'node:fs'
import {Ajv2020} from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import {expect, it} from 'vitest'
import {plan, planToJSON} from '../../src/plan/index.js'
import {guestbook, stateOf} from '../helpers/state.js'

const schema = JSON.parse(readFileSync(new URL('../../schemas/plan.schema.json', import.meta.url), 'utf8'))
const ajv = new Ajv2020({allErrors: true, strict: true})
;(addFormats as unknown as {default: (a: Ajv2020) => void}).default(ajv)
const validate = ajv.compile(schema)

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
