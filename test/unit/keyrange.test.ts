import {describe, expect, it} from 'vitest'
import {
  checkCoverage,
  describeCoverageProblem,
  formatKeyRange,
  generateShards,
  keyRangeContains,
  keyRangeEqual,
  keyRangeIncludes,
  keyRangesIntersect,
  parseShardName,
} from '../../src/keyspace/keyrange.js'

const id = (hex: string) => Buffer.from(hex, 'hex')
const kr = parseShardName

describe('parseShardName / formatKeyRange', () => {
  it.each([
    ['0', '-'],
    ['-', '-'],
    ['-80', '-80'],
    ['80-', '80-'],
    ['40-80', '40-80'],
    ['4000-8000', '40-80'],
    ['00-80', '-80'],
    ['-8000', '-80'],
    ['4001-8000', '4001-80'],
  ])('%s → %s', (name, canonical) => {
    expect(formatKeyRange(kr(name))).toBe(canonical)
  })

  it.each([
    ['80', /expected "0" or "<start>-<end>"/],
    ['8-', /even number of hex digits/],
    ['-8G', /hex digits only/],
    ['-8A', /lower-case hex digits/],
    ['80-40', /start must be lower than end/],
    ['80-80', /start must be lower than end/],
    ['40-80-c0', /expected/],
    ['', /expected/],
  ])('rejects %j', (name, msg) => {
    expect(() => kr(name)).toThrow(msg)
  })

  it('treats trailing zero bytes as equal bounds', () => {
    expect(keyRangeEqual(kr('-80'), kr('00-8000'))).toBe(true)
    expect(keyRangeEqual(kr('80-'), kr('8000-'))).toBe(true)
    expect(keyRangeEqual(kr('-80'), kr('-81'))).toBe(false)
  })
})

describe('contains / intersects / includes', () => {
  it('half-open ranges', () => {
    expect(keyRangeContains(kr('-80'), id('7fffffffffffffff'))).toBe(true)
    expect(keyRangeContains(kr('-80'), id('80'))).toBe(false)
    expect(keyRangeContains(kr('-80'), id('8000000000000000'))).toBe(false)
    expect(keyRangeContains(kr('80-'), id('80'))).toBe(true)
    expect(keyRangeContains(kr('80-'), id('ffffffffffffffff'))).toBe(true)
    expect(keyRangeContains(kr('0'), id(''))).toBe(true)
    expect(keyRangeContains(kr('40-80'), id('3fff'))).toBe(false)
    expect(keyRangeContains(kr('40-80'), id('40'))).toBe(true)
    expect(keyRangeContains(kr('-80'), id(''))).toBe(true)
  })

  it('intersects', () => {
    expect(keyRangesIntersect(kr('-80'), kr('80-'))).toBe(false)
    expect(keyRangesIntersect(kr('-80'), kr('40-c0'))).toBe(true)
    expect(keyRangesIntersect(kr('0'), kr('c0-'))).toBe(true)
    expect(keyRangesIntersect(kr('-55'), kr('55-aa'))).toBe(false)
    expect(keyRangesIntersect(kr('-56'), kr('55-aa'))).toBe(true)
  })

  it('includes', () => {
    expect(keyRangeIncludes(kr('0'), kr('40-80'))).toBe(true)
    expect(keyRangeIncludes(kr('-80'), kr('-40'))).toBe(true)
    expect(keyRangeIncludes(kr('-80'), kr('40-81'))).toBe(false)
    expect(keyRangeIncludes(kr('80-'), kr('c0-'))).toBe(true)
    expect(keyRangeIncludes(kr('80-c0'), kr('c0-'))).toBe(false)
  })
})

describe('checkCoverage', () => {
  it('accepts exact covers', () => {
    expect(checkCoverage(['0'])).toEqual([])
    expect(checkCoverage(['80-', '-80'])).toEqual([])
    expect(checkCoverage(['-55', '55-aa', 'aa-'])).toEqual([])
    expect(checkCoverage(generateShards(256))).toEqual([])
  })

  it('names a gap', () => {
    const problems = checkCoverage(['-40', '80-'])
    expect(problems).toHaveLength(1)
    expect(describeCoverageProblem(problems[0])).toBe(
      'key range 40-80 is not covered by any shard between shards "-40" and "80-"',
    )
  })

  it('names gaps at both ends', () => {
    const problems = checkCoverage(['40-80'])
    expect(problems.map((p) => [p.kind, p.range])).toEqual([
      ['gap', '-40'],
      ['gap', '80-'],
    ])
  })

  it('names an overlap', () => {
    const problems = checkCoverage(['-80', '70-'])
    expect(problems).toEqual([{kind: 'overlap', range: '70-80', shards: ['-80', '70-']}])
  })

  it('finds a duplicate whole-keyspace shard', () => {
    expect(checkCoverage(['0', '-']).map((p) => p.kind)).toEqual(['overlap'])
  })
})

describe('generateShards', () => {
  it('matches Vitess naming', () => {
    expect(generateShards(1)).toEqual(['0'])
    expect(generateShards(2)).toEqual(['-80', '80-'])
    expect(generateShards(3)).toEqual(['-55', '55-aa', 'aa-'])
    expect(generateShards(4)).toEqual(['-40', '40-80', '80-c0', 'c0-'])
    expect(generateShards(257)[1]).toBe('00ff-01fe')
  })

  it.each([1, 2, 3, 5, 7, 16, 100, 256, 300, 4096])('%i shards cover the keyspace exactly', (n) => {
    const names = generateShards(n)
    expect(names).toHaveLength(n)
    expect(new Set(names).size).toBe(n)
    expect(checkCoverage(names)).toEqual([])
  })

  it('refuses nonsense', () => {
    expect(() => generateShards(0)).toThrow(/at least 1/)
    expect(() => generateShards(1.5)).toThrow(/whole number/)
    expect(() => generateShards(70000)).toThrow(/65536/)
  })
})
