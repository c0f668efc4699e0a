import {readFileSync} from 'node:fs'
import {expect, it} from 'vitest'
// @ts-expect-error plain JS build script
import {generate} from '../../scripts/gen-validators.mjs'

it('the compiled validators match schemas/ (run `npm run gen` after editing a schema)', () => {
  const committed = readFileSync(new URL('../../src/layout/validators.generated.ts', import.meta.url), 'utf8')
  expect(committed === generate()).toBe(true)
})
