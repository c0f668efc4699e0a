import {describe, expect, it} from 'vitest'
import {keyspaceId} from '../../src/keyspace/vindexes/index.js'
import {
  countByShard,
  estimateDurations,
  formatBytes,
  formatDuration,
  predictDestinations,
  ratesFromWorkflow,
  sampleStep,
  skew,
} from '../../src/estimate/model.js'

const id = (hex: string) => Buffer.from(hex, 'hex')
const rates = {copyRowsPerSec: 100, diffRowsPerSec: 200, applyRowsPerSec: 50}

describe('countByShard', () => {
  it('counts ids by key range, half-open at the split', () => {
    const c = countByShard([id('00'), id('7fff'), id('80'), id('ff')], ['-80', '80-'])
    expect(Object.fromEntries(c)).toEqual({'-80': 2, '80-': 2})
  })
  it('uses real hash keyspace ids (1 → 166b…, 4 → d2fd…)', () => {
    const ids = [1, 2, 3, 4].map((v) => keyspaceId('hash', v))
    expect(Object.fromEntries(countByShard(ids, ['-80', '80-']))).toEqual({'-80': 3, '80-': 1})
  })
})

describe('predictDestinations', () => {
  it('splits a sharded table in its sample proportions and copies a reference table whole', () => {
    const p = predictDestinations(
      [
        {
          shard: '0',
          tables: [
            {name: 'messages', rows: 1000, bytes: 4000, ids: [id('10'), id('20'), id('30'), id('90')]},
            {name: 'ref', rows: 10, bytes: 100},
          ],
        },
      ],
      ['-80', '80-'],
    )
    expect(p.get('-80')).toEqual({rows: 760, bytes: 3100})
    expect(p.get('80-')).toEqual({rows: 260, bytes: 1100})
  })
  it('splits an unsampled table evenly', () => {
    const p = predictDestinations(
      [{shard: '0', tables: [{name: 't', rows: 9, bytes: 0, ids: []}]}],
      ['-40', '40-80', '80-'],
    )
    expect([...p.values()].map((e) => e.rows)).toEqual([3, 3, 3])
  })
  it('adds up several sources', () => {
    const p = predictDestinations(
      [
        {shard: '-80', tables: [{name: 't', rows: 100, bytes: 0, ids: [id('10')]}]},
        {shard: '80-', tables: [{name: 't', rows: 50, bytes: 0, ids: [id('90')]}]},
      ],
      ['0'],
    )
    expect(p.get('0')!.rows).toBe(150)
  })
})

describe('skew', () => {
  it('is max over mean', () => {
    expect(skew([75, 25])).toBe(1.5)
    expect(skew([10, 10, 10])).toBe(1)
    expect(skew([])).toBe(0)
    expect(skew([0, 0])).toBe(0)
  })
})

describe('estimateDurations', () => {
  it('copy by the largest source, diff by the larger of the largest group scan and total over parallel scans', () => {
    const d = estimateDurations({
      sourceRows: [1000, 400],
      groupRows: [600, 200, 200, 400],
      diffParallelism: 2,
      writeRowsPerSec: 0,
      rates,
    })
    expect(d).toEqual({copySeconds: 10, catchupSeconds: 0, diffSeconds: 3.5})
  })
  it('catch-up drains the writes made during the copy at apply minus write rate', () => {
    const d = estimateDurations({
      sourceRows: [1000],
      groupRows: [1000],
      diffParallelism: 1,
      writeRowsPerSec: 25,
      rates,
    })
    expect(d.catchupSeconds).toBe(10)
  })
  it('never catches up when writes outpace the stream', () => {
    const d = estimateDurations({
      sourceRows: [1000],
      groupRows: [1000],
      diffParallelism: 1,
      writeRowsPerSec: 60,
      rates,
    })
    expect(d.catchupSeconds).toBeNull()
    expect(formatDuration(d.catchupSeconds)).toMatch(/never/)
  })
})

describe('helpers', () => {
  it('sampleStep spreads a sample over the table', () => {
    expect(sampleStep(100, 2000)).toBe(1)
    expect(sampleStep(10_000, 2000)).toBe(5)
    expect(sampleStep(10_001, 2000)).toBe(6)
  })
  it('formats durations and bytes', () => {
    expect(formatDuration(0.01)).toBe('< 0.1 s')
    expect(formatDuration(3.21)).toBe('3.2 s')
    expect(formatDuration(185)).toBe('3 min 5 s')
    expect(formatDuration(7800)).toBe('2 h 10 min')
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KB')
  })
})

describe('ratesFromWorkflow', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString()
  it('sums rows over seconds of done clone and diff tasks', () => {
    const r = ratesFromWorkflow({
      'clone/-80': {state: 'done', started_at: at(0), finished_at: at(10), output: {rows: 600_000}},
      'clone/80-': {state: 'done', startedAt: at(0), finishedAt: at(10), output: {rows: 400_000}},
      'diff/-80': {state: 'done', output: {compared: 500_000, seconds: 2}},
      'diff/80-': {state: 'failed', output: {compared: 1, seconds: 100}},
      'copy_schema/-80': {state: 'done', output: {}},
    })
    expect(r).toEqual({copyRowsPerSec: 50_000, diffRowsPerSec: 250_000})
  })
  it('the tasks of one shared diff scan share its time', () => {
    const scan = {destinations: ['-40', '40-80', '80-c0', 'c0-']}
    const tasks = Object.fromEntries(
      scan.destinations.map((d) => [`diff/${d}`, {state: 'done', output: {compared: 100_000, seconds: 4, scan}}]),
    )
    // 400,000 rows compared in one 4 s scan: 100,000 rows/s, not 25,000.
    expect(ratesFromWorkflow(tasks)).toEqual({diffRowsPerSec: 100_000})
  })
  it('leaves out a kind with too few rows to be a rate', () => {
    expect(
      ratesFromWorkflow({'clone/0': {state: 'done', started_at: at(0), finished_at: at(1), output: {rows: 4000}}}),
    ).toEqual({})
  })
})
