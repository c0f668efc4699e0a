// schemas/plan.schema.json, compiled once: every `plan --json` / `show --json` object the tests see is checked with it.
import {readFileSync} from 'node:fs'
import {Ajv2020} from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import {expect} from 'vitest'

const schema = JSON.parse(readFileSync(new URL('../../schemas/plan.schema.json', import.meta.url), 'utf8'))
const ajv = new Ajv2020({allErrors: true, strict: true})
;(addFormats as unknown as {default: (a: Ajv2020) => void}).default(ajv)
export const validatePlan = ajv.compile(schema)

/** Fails the test with ajv's errors unless `json` follows the plan schema; returns it for chaining. */
export function expectPlanSchema<T>(json: T): T {
  expect(validatePlan(json) ? [] : validatePlan.errors).toEqual([])
  return json
}
