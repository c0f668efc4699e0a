// Property-based: saved plans edited by hand, truncated or overwritten with garbage (fast-check). loadPlanFile
// refuses every change to what the plan says (checksum mismatch, not a plan file) with a ShardformError and a
// clear message; it may accept only files whose plan and topology are exactly those saved (whitespace, key order).
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {isDeepStrictEqual} from 'node:util'
import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'
import {ShardformError} from '../../src/errors.js'
import {loadPlanFile, plan, savePlan} from '../../src/plan/index.js'
import {hasStackTrace} from '../helpers/cli.js'
import {damage, hostileKey, mutate, textDamage, weirdValue, type Mutation} from '../helpers/security-fuzz.js'
import {guestbook, stateOf} from '../helpers/state.js'

const dir = mkdtempSync(join(tmpdir(), 'sf-fuzz-plan-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const state = stateOf(guestbook('1-shard.yaml'))
const ORIGINAL_FILE = join(dir, 'original.plan')
savePlan(ORIGINAL_FILE, plan(state, guestbook('2-shards.yaml')), state)
const ORIGINAL_TEXT = readFileSync(ORIGINAL_FILE, 'utf8')
const ORIGINAL = JSON.parse(ORIGINAL_TEXT)

const REFUSAL =
  /(the plan file was modified after `shardform plan` saved it \(checksum mismatch\), so it is refused|not a shardform plan file|plan format version .* is not supported)/
let n = 0

/** Write the bytes as a plan file; accepted only when it says exactly what was saved, refused clearly otherwise. */
function check(bytes: Buffer): 'accepted' | 'refused' {
  const file = join(dir, `p${n++}.plan`)
  writeFileSync(file, bytes)
  let loaded: ReturnType<typeof loadPlanFile>
  try {
    loaded = loadPlanFile(file)
  } catch (err) {
    if (!(err instanceof ShardformError))
      throw new Error(
        `loadPlanFile threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.stack ?? String(err)}`,
        {cause: err},
      )
    expect(err.message).toMatch(REFUSAL)
    expect(err.message.startsWith(`${file}: `)).toBe(true)
    expect(hasStackTrace(err.message)).toBe(false)
    return 'refused'
  }
  // Compared without our own canonical form (its blind spots would hide themselves): own keys, values, types.
  expect(
    isDeepStrictEqual(
      {plan: loaded.plan, topology: loaded.topology},
      {plan: ORIGINAL.plan, topology: ORIGINAL.topology},
    ),
    'a modified plan was accepted',
  ).toBe(true)
  expect(loaded.kind).toBe(ORIGINAL.kind)
  expect(loaded.format_version).toBe(ORIGINAL.format_version)
  return 'accepted'
}

/** Edits of the parsed plan file; "set" of a value to itself is possible and must be accepted. */
const planEdit: fc.Arbitrary<Mutation> = fc.oneof(
  {weight: 3, arbitrary: fc.record({op: fc.constant('set' as const), at: fc.nat(), value: weirdValue})},
  {weight: 2, arbitrary: fc.record({op: fc.constant('delete' as const), at: fc.nat()})},
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('add' as const),
      at: fc.nat(),
      key: fc.oneof(hostileKey, fc.constant('__proto__')),
      value: weirdValue,
    }),
  },
  {weight: 1, arbitrary: fc.record({op: fc.constant('rename' as const), at: fc.nat(), key: hostileKey})},
)

/** Small, plausible hand edits: a number nudged, a string changed, a boolean flipped. */
const subtleEdit = fc.tuple(fc.nat(), fc.constantFrom('inc', 'str', 'flip', 'case'))

const RUNS = Number(process.env.SHARDFORM_FUZZ_RUNS ?? 0)
const runs = (k: number) => ({numRuns: RUNS || k, endOnFailure: true})

describe('saved plans edited by hand (library)', () => {
  it('the unmodified file loads; reformatting it (indentation, key order) changes nothing and is accepted', () => {
    expect(check(Buffer.from(ORIGINAL_TEXT))).toBe('accepted')
    expect(check(Buffer.from(JSON.stringify(ORIGINAL)))).toBe('accepted')
    const reordered = Object.fromEntries(Object.entries(ORIGINAL).reverse())
    expect(check(Buffer.from(JSON.stringify(reordered, null, 4)))).toBe('accepted')
  })

  it('JSON edits anywhere in the file: values replaced, keys deleted, added (also __proto__) or renamed', () => {
    const seen = {accepted: 0, refused: 0}
    fc.assert(
      fc.property(fc.array(planEdit, {minLength: 1, maxLength: 3}), fc.boolean(), (edits, pretty) => {
        const edited = mutate(ORIGINAL, edits)
        seen[check(Buffer.from(JSON.stringify(edited, null, pretty ? 2 : 0) ?? 'null'))]++
      }),
      runs(800),
    )
    expect(seen.refused).toBeGreaterThan(seen.accepted)
  })

  it('subtle edits of one leaf (a port, a gate, a shard name, a flag) are refused', () => {
    const leaves: Array<Array<string | number>> = []
    const walk = (v: unknown, at: Array<string | number>) => {
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, i]))
      else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...at, k])
      else if (at[0] === 'plan' || at[0] === 'topology') leaves.push(at)
    }
    walk(ORIGINAL, [])
    expect(leaves.length).toBeGreaterThan(50)
    fc.assert(
      fc.property(subtleEdit, ([i, how]) => {
        const path = leaves[i % leaves.length]!
        const edited = structuredClone(ORIGINAL)
        let parent = edited
        for (const seg of path.slice(0, -1)) parent = parent[seg]
        const key = path[path.length - 1]!
        const v = parent[key]
        if (typeof v === 'number') parent[key] = how === 'inc' ? v + 1 : -v - 1
        else if (typeof v === 'boolean') parent[key] = !v
        else if (typeof v === 'string')
          parent[key] = how === 'case' && v.toUpperCase() !== v ? v.toUpperCase() : `${v}x`
        else parent[key] = 0
        expect(check(Buffer.from(JSON.stringify(edited, null, 2)))).toBe('refused')
      }),
      runs(200),
    )
  })

  it('byte damage: truncation, cuts, stray characters, invalid UTF-8, garbage', () => {
    fc.assert(
      fc.property(fc.array(textDamage, {minLength: 1, maxLength: 4}), (dmg) => {
        check(damage(Buffer.from(ORIGINAL_TEXT), dmg))
      }),
      runs(300),
    )
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 2048}), (bytes) => {
        check(Buffer.from(bytes))
      }),
      runs(100),
    )
  })

  it('not a plan at all: a layout, JSON of another kind, an empty file, a directory', () => {
    for (const text of [
      '',
      'null',
      '[]',
      '{}',
      '"x"',
      '42',
      '{"kind": "shardform-plan"}',
      '{"kind": "shardform-plan", "plan": {}, "checksum": 5}',
      readFileSync(new URL('../../plans/guestbook/2-shards.yaml', import.meta.url)),
    ]) {
      expect(check(Buffer.from(text as string))).toBe('refused')
    }
    expect(() => loadPlanFile(dir)).toThrow(ShardformError)
  })

  it('-0 written for a 0 (same number, same checksum) loads as exactly the saved plan', () => {
    const text = ORIGINAL_TEXT.replace('"group": 0', '"group": -0')
    expect(text).not.toBe(ORIGINAL_TEXT)
    expect(check(Buffer.from(text))).toBe('accepted')
  })

  it('a __proto__ key added inside the plan is a change like any other (refused)', () => {
    const text = ORIGINAL_TEXT.replace('"tables": {', '"tables": {"__proto__": {"column_vindexes": []},')
    expect(text).not.toBe(ORIGINAL_TEXT)
    expect(check(Buffer.from(text))).toBe('refused')
  })
})
