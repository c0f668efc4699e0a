// Vitess key ranges: a shard name is `start-end` in hex; an empty side is unbounded.
// Compare as unsigned bytes after stripping trailing 0x00, so `80` == `8000` and `-80` == `00-80`.
import {ShardformError, type ErrorParts} from '../errors.js'

export interface KeyRange {
  /** Inclusive lower bound; empty = minimum. Normalised (no trailing zero bytes). */
  start: Buffer
  /** Exclusive upper bound; empty = maximum. Normalised. */
  end: Buffer
}

export class KeyRangeError extends ShardformError {
  override name = 'KeyRangeError'
  constructor(summary: string, parts: ErrorParts = {}) {
    super(summary, {code: 'keyrange', ...parts})
  }
}

const HEX = /^(?:[0-9a-f]{2})*$/

/** Strip trailing zero bytes: Vitess treats `80` and `8000` as the same bound. */
export function normalizeBound(b: Buffer): Buffer {
  let n = b.length
  while (n > 0 && b[n - 1] === 0) n--
  return n === b.length ? b : b.subarray(0, n)
}

function parseBound(text: string, shard: string): Buffer {
  if (!HEX.test(text)) {
    const hint = /^[0-9a-fA-F]*$/.test(text)
      ? text.length % 2
        ? 'an even number of hex digits'
        : 'lower-case hex digits'
      : 'hex digits only'
    throw new KeyRangeError(
      `invalid shard name "${shard}": bound "${text}" must be ${hint} (e.g. "-80", "80-", "40-80", "0")`,
    )
  }
  return normalizeBound(Buffer.from(text, 'hex'))
}

/** Parse a shard name: `0` or `-` (whole keyspace), `-80`, `80-`, `40-80`, `4000-8000`. */
export function parseShardName(name: string): KeyRange {
  if (typeof name !== 'string') throw new KeyRangeError(`invalid shard name ${JSON.stringify(name)}: must be a string`)
  if (name === '0' || name === '-') return {start: Buffer.alloc(0), end: Buffer.alloc(0)}
  const parts = name.split('-')
  if (parts.length !== 2) {
    throw new KeyRangeError(
      `invalid shard name "${name}": expected "0" or "<start>-<end>" in hex (e.g. "-80", "80-", "40-80")`,
    )
  }
  const kr = {start: parseBound(parts[0], name), end: parseBound(parts[1], name)}
  if (kr.end.length > 0 && compareBytes(kr.start, kr.end) >= 0) {
    throw new KeyRangeError(`invalid shard name "${name}": start must be lower than end`)
  }
  return kr
}

export function isValidShardName(name: string): boolean {
  try {
    parseShardName(name)
    return true
  } catch {
    return false
  }
}

/** Canonical text of a key range (`-80`, `80-`, `40-80`; `-` for the whole keyspace). */
export function formatKeyRange(kr: KeyRange): string {
  return `${kr.start.toString('hex')}-${kr.end.toString('hex')}`
}

export function keyRangeToJSON(kr: KeyRange): {start: string; end: string} {
  return {start: kr.start.toString('hex'), end: kr.end.toString('hex')}
}

export function keyRangeFromJSON(j: {start: string; end: string}): KeyRange {
  return {start: normalizeBound(Buffer.from(j.start, 'hex')), end: normalizeBound(Buffer.from(j.end, 'hex'))}
}

export function compareBytes(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b)
}

/** Compare two upper bounds where empty means +infinity. */
function compareEnds(a: Buffer, b: Buffer): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1
  if (b.length === 0) return -1
  return compareBytes(a, b)
}

/** Compare a start with an end (start empty = -inf, end empty = +inf). */
function startBeforeEnd(start: Buffer, end: Buffer): boolean {
  return end.length === 0 || compareBytes(start, end) < 0
}

export function isFullRange(kr: KeyRange): boolean {
  return kr.start.length === 0 && kr.end.length === 0
}

export function keyRangeEqual(a: KeyRange, b: KeyRange): boolean {
  return compareBytes(a.start, b.start) === 0 && compareEnds(a.end, b.end) === 0
}

/** Does the range hold this keyspace id? Half-open: [start, end). */
export function keyRangeContains(kr: KeyRange, keyspaceId: Buffer): boolean {
  return compareBytes(kr.start, keyspaceId) <= 0 && (kr.end.length === 0 || compareBytes(keyspaceId, kr.end) < 0)
}

export function keyRangesIntersect(a: KeyRange, b: KeyRange): boolean {
  return startBeforeEnd(a.start, b.end) && startBeforeEnd(b.start, a.end)
}

/** Does `outer` include all of `inner`? */
export function keyRangeIncludes(outer: KeyRange, inner: KeyRange): boolean {
  return compareBytes(outer.start, inner.start) <= 0 && compareEnds(inner.end, outer.end) <= 0
}

export interface CoverageProblem {
  kind: 'gap' | 'overlap'
  /** The uncovered or doubly covered range, as a shard-style name. */
  range: string
  /** For an overlap: the two shards that overlap; for a gap: the neighbours around it. */
  shards: string[]
}

/**
 * Check that the shards cover the keyspace exactly once. Returns the gaps and overlaps, empty when exact.
 * Invalid names throw KeyRangeError.
 */
export function checkCoverage(shardNames: string[]): CoverageProblem[] {
  return checkCoverageOf(shardNames.map((name) => ({name, kr: parseShardName(name)})))
}

/** checkCoverage for names already parsed. */
export function checkCoverageOf(parsed: Array<{name: string; kr: KeyRange}>): CoverageProblem[] {
  const shards = [...parsed].sort((a, b) => compareBytes(a.kr.start, b.kr.start) || compareEnds(a.kr.end, b.kr.end))
  const problems: CoverageProblem[] = []
  if (shards.length === 0) return [{kind: 'gap', range: '-', shards: []}]
  // `cursor` is the end of what is covered so far; null = covered to +infinity.
  let cursor: Buffer | null = Buffer.alloc(0)
  let prev: string | undefined
  for (const s of shards) {
    const c = compareStartWithCursor(s.kr.start, cursor)
    if (c > 0 && cursor !== null) {
      problems.push({
        kind: 'gap',
        range: formatKeyRange({start: cursor, end: s.kr.start}),
        shards: prev ? [prev, s.name] : [s.name],
      })
    } else if (c < 0 && prev !== undefined) {
      const overlapEnd = cursor === null ? s.kr.end : compareEnds(s.kr.end, cursor) < 0 ? s.kr.end : cursor
      problems.push({
        kind: 'overlap',
        range: formatKeyRange({start: s.kr.start, end: overlapEnd}),
        shards: [prev, s.name],
      })
    }
    if (cursor !== null && (s.kr.end.length === 0 || compareBytes(s.kr.end, cursor) > 0)) {
      cursor = s.kr.end.length === 0 ? null : s.kr.end
      prev = s.name
    } else if (cursor === null && s.kr.end.length === 0) {
      prev = s.name
    }
  }
  if (cursor !== null) {
    problems.push({
      kind: 'gap',
      range: formatKeyRange({start: cursor, end: Buffer.alloc(0)}),
      shards: prev ? [prev] : [],
    })
  }
  return problems
}

/** -1 if start is before the cursor (overlap), 0 if equal (contiguous), 1 if after (gap). */
function compareStartWithCursor(start: Buffer, cursor: Buffer | null): number {
  if (cursor === null) return -1
  return compareBytes(start, cursor)
}

export function describeCoverageProblem(p: CoverageProblem): string {
  if (p.kind === 'gap') {
    const around =
      p.shards.length === 2
        ? ` between shards "${p.shards[0]}" and "${p.shards[1]}"`
        : p.shards.length === 1
          ? ` next to shard "${p.shards[0]}"`
          : ''
    return `key range ${p.range} is not covered by any shard${around}`
  }
  return `shards "${p.shards[0]}" and "${p.shards[1]}" overlap on key range ${p.range}`
}

/**
 * N shards of equal width, as Vitess generates them: 2 hex digits up to 256 shards, 4 up to 65536.
 * One shard is named "0".
 */
export function generateShards(n: number): string[] {
  if (!Number.isInteger(n) || n < 1)
    throw new KeyRangeError(`cannot generate ${n} shards: need a whole number of at least 1`)
  if (n > 65536) throw new KeyRangeError(`cannot generate ${n} shards: at most 65536 are supported`)
  if (n === 1) return ['0']
  const [width, max] = n <= 256 ? [2, 256] : [4, 65536]
  const hex = (v: number) => (v === 0 || v === max ? '' : v.toString(16).padStart(width, '0'))
  const size = max / n
  const names: string[] = []
  let start = 0
  for (let i = 1; i <= n; i++) {
    const end = Math.floor(i * size)
    names.push(`${hex(start)}-${hex(end)}`)
    start = end
  }
  return names
}

/** Sort shard names by key range start, for stable output. */
export function sortShardNames(names: string[]): string[] {
  if (names.length < 2) return [...names]
  // Each name parsed once; normalised lower-case hex compares as text exactly as the bytes do.
  return names
    .map((name) => ({name, start: parseShardName(name).start.toString('hex')}))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((x) => x.name)
}
