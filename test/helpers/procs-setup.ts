// Installed by vitest.config.ts (setupFiles) in every test file: what a file's tests started and did not stop
// (a failed test, a failed beforeAll) is stopped after the file's own afterAll hooks. See test/helpers/procs.ts.
import {afterAll} from 'vitest'
import {stopRegistered} from './procs.js'

afterAll(async () => {
  const left = await stopRegistered()
  if (left.length) console.warn(`stopped what the tests of this file left running: ${left.join(', ')}`)
})
