import {expect, it} from 'vitest'
import * as sf from '../../src/index.js'

it('the library API exposes key ranges, vindexes, layouts and the planner', () => {
  expect(sf.formatKeyRange(sf.parseShardName('4000-8000'))).toBe('40-80')
  expect(sf.keyspaceId('hash', 1).toString('hex')).toBe('166b40b44aba4bd6')
  expect(typeof sf.loadLayout).toBe('function')
  expect(typeof sf.plan).toBe('function')
  expect(sf.PHASES.map((p) => p.name)).toContain('migrate_primary')
  expect(typeof sf.openTopo).toBe('function')
})
