// Property-based: hostile layouts (fast-check). loadLayout either returns a Layout that keeps every invariant the
// planner relies on, or throws a LayoutError whose every problem line is `file:line:col: …` — never another
// exception type, never a stack trace, never a problem spread over several lines.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'
import {checkCoverage, compareBytes} from '../../src/keyspace/keyrange.js'
import {tableRouting, vschemaProblems} from '../../src/keyspace/vschema.js'
import {loadLayout, LayoutError, parseLayout} from '../../src/layout/index.js'
import type {Layout} from '../../src/layout/types.js'
import {hasStackTrace} from '../helpers/cli.js'
import {
  BASE_LAYOUT,
  damage,
  depth,
  format,
  hostileString,
  layoutText,
  mutate,
  mutation,
  textDamage,
} from '../helpers/security-fuzz.js'

const dir = mkdtempSync(join(tmpdir(), 'sf-fuzz-layout-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
let n = 0

/** Load `bytes` as a layout file; the outcome, checked. */
function check(bytes: Buffer): 'valid' | 'refused' {
  const file = join(dir, `l${n++}.yaml`)
  writeFileSync(file, bytes)
  let layout: Layout
  try {
    layout = loadLayout(file)
  } catch (err) {
    checkRefusal(err, file)
    return 'refused'
  }
  checkInvariants(layout)
  return 'valid'
}

const PROBLEM_LINE = /^(.+):(\d+):(\d+): \S/
const SUMMARY = /^The layout has (a problem|\d+ problems); fix (it|them) and run the command again\.$/

function checkRefusal(err: unknown, file: string): void {
  if (!(err instanceof LayoutError)) {
    // Anything else is a loader bug (a TypeError from a value of the wrong type, a RangeError from nesting…).
    throw new Error(`loadLayout threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.stack ?? String(err)}`)
  }
  const msg = err.message
  expect(hasStackTrace(msg), msg).toBe(false)
  expect(msg).not.toMatch(/Maximum call stack|TypeError|undefined is not|Cannot read propert/)
  const lines = msg.split('\n')
  expect(lines[lines.length - 1]).toMatch(SUMMARY)
  const problems = lines.slice(0, -1).filter((l) => !/^… and \d+ more$/.test(l))
  expect(problems.length).toBeGreaterThan(0)
  for (const line of problems) {
    const m = PROBLEM_LINE.exec(line)
    expect(m, `not file:line:col: ${JSON.stringify(line)}`).not.toBeNull()
    expect(m![1] === file || m![1]!.startsWith(dir) || m![1]!.startsWith('/'), line).toBe(true)
    expect(Number(m![2])).toBeGreaterThanOrEqual(1)
    expect(Number(m![3])).toBeGreaterThanOrEqual(1)
    // Nothing from the file reaches the terminal raw.
    expect(line).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
  }
  for (const p of err.problems) {
    expect(p.line).toBeGreaterThanOrEqual(1)
    expect(p.col).toBeGreaterThanOrEqual(1)
  }
}

const TYPES = new Set(['primary', 'replica', 'rdonly'])

function checkInvariants(l: Layout): void {
  expect(l.keyspace).toMatch(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/)
  expect(l.database).toMatch(/^[A-Za-z0-9_$]{1,64}$/)
  const names = l.shards.map((s) => s.name)
  expect(names.length).toBeGreaterThan(0)
  // The shards cover the keyspace exactly once, and are sorted by key range.
  expect(checkCoverage(names)).toEqual([])
  for (let i = 1; i < l.shards.length; i++) {
    expect(
      compareBytes(
        Buffer.from(l.shards[i - 1]!.keyRange.start, 'hex'),
        Buffer.from(l.shards[i]!.keyRange.start, 'hex'),
      ),
    ).toBeLessThan(0)
  }
  const aliases = new Set<string>()
  const endpoints = new Set<string>()
  for (const s of l.shards) {
    expect(s.tablets.filter((t) => t.type === 'primary')).toHaveLength(1)
    for (const t of s.tablets) {
      expect(TYPES.has(t.type)).toBe(true)
      expect(Number.isInteger(t.port) && t.port >= 1 && t.port <= 65535).toBe(true)
      expect(t.alias).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/)
      expect(t.host).toMatch(/^[A-Za-z0-9.:_-]{1,253}$/)
      for (const u of [t.user, t.adminUser]) expect(u).toMatch(/^[A-Za-z0-9_.$-]{1,80}$/)
      for (const e of [t.passwordEnv, t.adminPasswordEnv])
        if (e !== undefined) expect(e).toMatch(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/)
      expect(aliases.has(t.alias), `alias ${t.alias} twice`).toBe(false)
      aliases.add(t.alias)
      const ep = `${t.host}:${t.port}`
      expect(endpoints.has(ep), `${ep} twice`).toBe(false)
      endpoints.add(ep)
    }
  }
  expect(vschemaProblems(l.vschema)).toEqual([])
  if (l.vschema.sharded) {
    for (const [table, def] of Object.entries(l.vschema.tables ?? {})) {
      if (def.type === 'sequence') continue
      expect(() => tableRouting(l.vschema, table)).not.toThrow()
    }
  } else {
    expect(names).toHaveLength(1)
  }
  // A plan stores the layout as JSON: it must survive that.
  expect(JSON.parse(JSON.stringify(l))).toEqual(JSON.parse(JSON.stringify(l)))
}

const RUNS = Number(process.env.SHARDFORM_FUZZ_RUNS ?? 0)
const runs = (n: number) => ({numRuns: RUNS || n, endOnFailure: true})

describe('hostile layouts (library)', () => {
  it('the unmodified base layout is valid (the properties start from a good file)', () => {
    expect(check(Buffer.from(layoutText(BASE_LAYOUT, 'yaml')))).toBe('valid')
    expect(check(Buffer.from(layoutText(BASE_LAYOUT, 'json')))).toBe('valid')
  })

  it('structural mutations: keys deleted, added, renamed; values of the wrong type, huge, nested, long', () => {
    const seen = {valid: 0, refused: 0}
    fc.assert(
      fc.property(fc.array(mutation, {minLength: 1, maxLength: 4}), format, depth, (muts, fmt, d) => {
        seen[check(Buffer.from(layoutText(mutate(BASE_LAYOUT, muts), fmt, d)))]++
      }),
      runs(300),
    )
    // Both outcomes happen: the mutations are neither all fatal nor all harmless.
    expect(seen.refused).toBeGreaterThan(0)
    expect(seen.valid).toBeGreaterThan(0)
  })

  it('byte-level damage: truncation, cuts, stray syntax, invalid UTF-8, NUL', () => {
    fc.assert(
      fc.property(
        fc.array(mutation, {maxLength: 2}),
        format,
        fc.array(textDamage, {minLength: 1, maxLength: 4}),
        (muts, fmt, dmg) => {
          check(damage(Buffer.from(layoutText(mutate(BASE_LAYOUT, muts), fmt, 200)), dmg))
        },
      ),
      runs(400),
    )
  })

  it('hostile names in every naming position (quotes, backticks, semicolons, --, NUL, escapes)', () => {
    const targets = [
      'keyspace',
      'database',
      'shard',
      'alias',
      'table',
      'column',
      'vindex',
      'user',
      'passwordEnv',
      'host',
    ] as const
    fc.assert(
      fc.property(fc.constantFrom(...targets), hostileString, format, (target, value, fmt) => {
        const outcome = check(Buffer.from(layoutText(mutate(BASE_LAYOUT, [{op: 'name', target, value}]), fmt)))
        // Names that reach SQL unquoted-able or file paths are pattern-checked: hostile ones never pass.
        if (outcome === 'valid' && ['keyspace', 'database', 'alias', 'user', 'passwordEnv', 'host'].includes(target)) {
          expect(value).toMatch(/^[A-Za-z0-9_.$:-]+$/)
        }
      }),
      runs(400),
    )
  })

  it('inline text: YAML features (anchors, tags, merge keys, multiple documents) and junk', () => {
    const pieces = fc.constantFrom(
      '&a x',
      '*a',
      '*undefined',
      '!!binary aGk=',
      '!!js/function "f(){}"',
      '!!set {a}',
      '!!timestamp 2001-01-01',
      '<<: {a: 1}',
      '---',
      '...',
      '%YAML 1.1',
      '? [a]',
      '"\\x00"',
      '"\\uD800"',
      "'a''b'",
      '|-\n  x',
      '>\n  y',
      '{',
      '[',
      '}',
      ']',
      ':',
      '-',
      '\t',
      '#',
      '@',
      '`',
    )
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), pieces), {minLength: 1, maxLength: 5}), (inserts) => {
        let text = layoutText(BASE_LAYOUT, 'yaml')
        for (const [at, p] of inserts) {
          const i = at % (text.length + 1)
          text = text.slice(0, i) + p + text.slice(i)
        }
        check(Buffer.from(text))
      }),
      runs(300),
    )
  })
})

describe('hostile layouts: specific cases', () => {
  const base = layoutText(BASE_LAYOUT, 'yaml')
  const refused = (text: string | Buffer) =>
    expect(check(Buffer.isBuffer(text) ? text : Buffer.from(text))).toBe('refused')

  it('a billion-laughs alias bomb is refused without expanding it', () => {
    // 9^20 values once expanded: no machine gets through that, so a refusal at all means it counted, not expanded.
    const names = Array.from({length: 20}, (_, i) => `n${i}`)
    const rows = [`${names[0]}: &${names[0]} [x,x,x,x,x,x,x,x,x]`]
    for (let i = 1; i < names.length; i++)
      rows.push(
        `${names[i]}: &${names[i]} [${Array(9)
          .fill(`*${names[i - 1]}`)
          .join(',')}]`,
      )
    const file = join(dir, 'bomb.yaml')
    writeFileSync(file, rows.join('\n') + '\n')
    expect(() => loadLayout(file)).toThrow(/the document expands to more than \d+ values/)
    refused(rows.join('\n') + '\n')
  })

  it('deep nesting (100k levels) is one clear problem, not a stack overflow', () => {
    for (const t of [
      `keyspace: ${'['.repeat(100_000)}`,
      `keyspace: ${'{a: '.repeat(30_000)}1${'}'.repeat(30_000)}`,
      '- '.repeat(5000) + 'x',
    ]) {
      const file = join(dir, `deep${n++}.yaml`)
      writeFileSync(file, t)
      expect(() => loadLayout(file)).toThrow(LayoutError)
      try {
        loadLayout(file)
      } catch (err) {
        expect((err as Error).message).not.toContain('Maximum call stack')
      }
    }
  })

  it('a vschema path that is missing, a directory or a device is a LayoutError at the vschema line', () => {
    for (const path of ['./nope.json', '.', '/dev/zero', '/proc/self/mem']) {
      const text = base.replace(/^vschema:[\s\S]*?^defaults:/m, `vschema: ${path}\ndefaults:`)
      const file = join(dir, `vs${n++}.yaml`)
      writeFileSync(file, text)
      let err: unknown
      try {
        loadLayout(file)
      } catch (e) {
        err = e
      }
      expect(err, path).toBeInstanceOf(LayoutError)
      checkRefusal(err, file)
    }
  })

  it('a huge file is refused by size; invalid UTF-8 names its line and column', () => {
    refused(Buffer.alloc(17 * 1024 * 1024, 0x61))
    const bad = Buffer.concat([
      Buffer.from('keyspace: ks\nshards:\n  "0": {tablets: [{alias: a'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(', type: primary, port: 1}]}\n'),
    ])
    const file = join(dir, `utf${n++}.yaml`)
    writeFileSync(file, bad)
    expect(() => loadLayout(file)).toThrow(`${file}:3:28: the file is not valid UTF-8`)
  })

  it('control characters and ANSI escapes in names are shown escaped, one problem per line', () => {
    try {
      parseLayout(
        'x.yaml',
        'keyspace: ks\nshards:\n  "a\\n\\u001b[2Jb\\r": {tablets: [{alias: a, type: primary, port: 1}]}\n',
      )
      throw new Error('accepted')
    } catch (err) {
      expect(err).toBeInstanceOf(LayoutError)
      const msg = (err as Error).message
      expect(msg.split('\n')).toHaveLength(2)
      expect(msg).toContain('a\\n\\u001b[2Jb\\r')
      expect(msg).not.toContain('\u001b')
    }
  })

  it('a table named like an Object.prototype member is not found by accident', () => {
    const l = parseLayout('x.yaml', base)
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(() => tableRouting(l.vschema, name)).toThrow(/is not in the vschema/)
    }
  })
})
