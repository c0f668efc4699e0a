import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Stops every process a test file registered and left running (test/helpers/procs.ts).
    setupFiles: ['test/helpers/procs-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Integration and e2e tests start real servers; two cores do not gain from more workers.
    maxWorkers: 2,
  },
})
