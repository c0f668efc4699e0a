// The fast layout reader against js-yaml: wherever it answers, it must give js-yaml's value exactly (same types, -0,
// key order); everything it does not handle it must hand back (undefined) rather than guess.
import {readFileSync} from 'node:fs'
import {isDeepStrictEqual} from 'node:util'
import fc from 'fast-check'
import {load} from 'js-yaml'
import {describe, expect, it} from 'vitest'
import {generateShards} from '../../src/keyspace/keyrange.js'
import {parseSimpleYaml} from '../../src/layout/fast-yaml.js'

/** js-yaml's value, or ERROR when js-yaml refuses the text. */
function reference(text: string): unknown {
  try {
    return load(text)
  } catch {
    return ERROR
  }
}
const ERROR = Symbol('js-yaml refused')

/** The fast reader's answer, checked against js-yaml when it gives one. */
function agrees(text: string): boolean {
  const fast = parseSimpleYaml(text)
  if (fast === undefined) return false
  const ref = reference(text)
  // isDeepStrictEqual tells -0 from 0 and checks types; JSON text also compares key order.
  if (ref === ERROR || !isDeepStrictEqual(fast, ref) || JSON.stringify(fast) !== JSON.stringify(ref)) {
    throw new Error(
      `fast reader differs from js-yaml on ${JSON.stringify(text)}:\n fast: ${JSON.stringify(fast)}\n js-yaml: ${ref === ERROR ? 'error' : JSON.stringify(ref)}`,
    )
  }
  return true
}

describe('fast layout reader', () => {
  it('reads the shipped layouts, as js-yaml does', () => {
    for (const f of [
      'plans/guestbook/1-shard.yaml',
      'plans/guestbook/2-shards.yaml',
      'plans/guestbook/4-shards.yaml',
      'bench/layouts/split.yaml',
    ]) {
      expect(agrees(readFileSync(f, 'utf8')), f).toBe(true)
    }
  })

  it('reads a generated 64-shard layout (the shape bench/plan.ts times)', () => {
    const lines = [
      'keyspace: bench',
      'vschema: {sharded: true, vindexes: {h: {type: hash}}, tables: {t: {column_vindexes: [{column: id, name: h}]}}}',
      'shards:',
    ]
    generateShards(64).forEach((name, i) =>
      lines.push(
        `  "${name}":`,
        '    tablets:',
        `      - {alias: b-${i}, type: primary, host: 10.0.0.${i}, port: 3306}`,
      ),
    )
    const text = lines.join('\n')
    expect(agrees(text)).toBe(true)
    expect((parseSimpleYaml(text) as {shards: Record<string, unknown>}).shards['-04']).toEqual({
      tablets: [{alias: 'b-0', type: 'primary', host: '10.0.0.0', port: 3306}],
    })
  })

  it.each([
    [
      'block mappings and sequences',
      'a: 1\nb:\n  c: [x, "y z"]\n  d:\n    - e: 1\n      f: two\n    - - nested\n      - 2\n',
    ],
    ['a sequence at its key’s indentation', 'a:\n- 1\n- 2\nb: 3\n'],
    ['comments and a document start', '--- \n# top\na: b # trailing\n\n  # indented comment\nc: "#not a comment"\n'],
    [
      'scalars of every kind',
      "a: [~, null, Null, true, FALSE, 0, -0, 0123, 0x1f, 0o17, 1e3, .5, -.inf, .NaN, +1, 1_000, '0', 'it''s', \"\\x41\\u00e9\\N\"]\n",
    ],
    ['keys js-yaml turns into strings', '0: zero\n"-80": a\n-40: b\n80-: c\n'],
    ['plain scalars with inner indicators', "url: http://x:80/a#b\nk: a:b\nl: -x\nm: ?y\nn: it's\n"],
    ['empty values and collections', 'a:\nb: {}\nc: []\nd: {e: [], f: {}}\n'],
    ['a top-level sequence', '- a\n-\n  - b\n- c: d\n'],
  ])('reads %s as js-yaml does', (_what, text) => {
    expect(agrees(text)).toBe(true)
  })

  it.each([
    ['anchors and aliases', 'a: &x 1\nb: *x\n'],
    ['tags', 'a: !!str 1\n'],
    ['block scalars', 'a: |\n  text\n'],
    ['multi-line plain scalars', 'a: one\n  two\n'],
    ['multi-line flow collections', 'a: [1,\n  2]\n'],
    ['multi-line quoted scalars', 'a: "one\n  two"\n'],
    ['duplicate keys', 'a: 1\na: 2\n'],
    ['merge keys', 'a: {x: 1}\nb:\n  <<: {y: 2}\n'],
    ['tabs', 'a:\tb\n'],
    ['CRLF line ends', 'a: b\r\n'],
    ['a second document', 'a: b\n---\nc: d\n'],
    ['an empty flow value', 'a: {b: }\n'],
    ['a trailing comma', 'a: [1, 2, ]\n'],
    ['bad indentation', 'a:\n    b: 1\n  c: 2\n'],
    ['an empty document', '# nothing\n'],
    ['JSON', '{\n  "a": 1\n}\n'],
    ['a mapping value on its key’s line', 'a: b: c\n'],
    ['deep nesting', `a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`],
    ['a collection as a key', '{a: 1}: b\n'],
    ['__proto__', '__proto__: {polluted: true}\n'],
  ])('leaves %s to js-yaml', (_what, text) => {
    expect(parseSimpleYaml(text)).toBeUndefined()
  })

  // Random documents in random styles: wherever the fast reader answers, js-yaml must read the same value.
  const word = fc.stringMatching(/^[a-zA-Z0-9 _.:#'"\-\\,[\]{}~é?!&*|>%@]{0,12}$/)
  const scalar = fc.oneof(
    word.map((w) => w.trim()),
    word.map((w) => `'${w.replaceAll("'", "''")}'`),
    word.map((w) => JSON.stringify(w)),
    fc.constantFrom(
      '~',
      'null',
      'NULL',
      'true',
      'False',
      '0',
      '-0',
      '007',
      '0x1F',
      '1e3',
      '.inf',
      '-.5',
      '10.0.0.1',
      '-80',
      '80-',
      '2026-01-01',
      '<<',
      '---',
      '...',
    ),
  )
  type Tree =
    | {kind: 'scalar'; text: string}
    | {kind: 'seq'; items: Tree[]; flow: boolean}
    | {kind: 'map'; pairs: Array<[string, Tree]>; flow: boolean}
  const tree: fc.Arbitrary<Tree> = fc.letrec<{tree: Tree}>((tie) => ({
    tree: fc.oneof(
      {depthSize: 'small'},
      scalar.map((text): Tree => ({kind: 'scalar', text})),
      fc.record({kind: fc.constant('seq' as const), items: fc.array(tie('tree'), {maxLength: 4}), flow: fc.boolean()}),
      fc.record({
        kind: fc.constant('map' as const),
        pairs: fc.array(fc.tuple(scalar, tie('tree')), {maxLength: 4}),
        flow: fc.boolean(),
      }),
    ),
  })).tree
  const style = fc.record({step: fc.integer({min: 1, max: 4}), compact: fc.boolean(), comment: fc.boolean()})
  type Style = {step: number; compact: boolean; comment: boolean}

  function flowText(t: Tree): string {
    if (t.kind === 'scalar') return t.text
    if (t.kind === 'seq') return `[${t.items.map(flowText).join(', ')}]`
    return `{${t.pairs.map(([k, v]) => `${k}: ${flowText(v)}`).join(', ')}}`
  }
  const inline = (t: Tree) =>
    t.kind === 'scalar' || t.flow || (t.kind === 'seq' ? t.items.length : t.pairs.length) === 0

  /** Block style: `prefix` starts the first line (a `- ` or a key's indentation), `indent` the lines after it. */
  function blockLines(t: Tree, indent: number, st: Style, out: string[], prefix: string): void {
    const pad = ' '.repeat(indent)
    if (inline(t)) out.push(`${prefix}${flowText(t)}${st.comment ? ' # c' : ''}`)
    else if (t.kind === 'seq')
      t.items.forEach((item, i) => blockLines(item, indent + 2, st, out, `${i === 0 ? prefix : pad}- `))
    else if (t.kind === 'map') {
      t.pairs.forEach(([k, v], i) => {
        const head = `${i === 0 ? prefix : pad}${k}:`
        if (inline(v)) return void out.push(`${head} ${flowText(v)}`)
        out.push(head)
        const at = v.kind === 'seq' && st.compact ? indent : indent + st.step
        blockLines(v, at, st, out, ' '.repeat(at))
      })
    }
  }

  it('agrees with js-yaml on random documents wherever it answers (about half of them)', () => {
    const runs = 1500
    let answered = 0
    fc.assert(
      fc.property(tree, style, (t, st) => {
        const out: string[] = []
        blockLines(t, 0, st, out, '')
        if (agrees(out.join('\n') + '\n')) answered++
      }),
      {numRuns: runs},
    )
    // The comparison means something only if the fast path is taken often (about half here; the rest is left to js-yaml).
    expect(answered).toBeGreaterThan(runs / 4)
  })

  // Random damage to a real layout (characters inserted, removed, replaced): never an answer js-yaml would not give.
  const layout = readFileSync('plans/guestbook/2-shards.yaml', 'utf8')
  const edit = fc.record({
    at: fc.nat(),
    cut: fc.integer({min: 0, max: 3}),
    insert: fc.stringMatching(/^[ \n\-:#'"{}[\],&*!|>a-z0-9.~]{0,3}$/),
  })
  it('agrees with js-yaml on damaged layouts wherever it answers', () => {
    fc.assert(
      fc.property(fc.array(edit, {minLength: 1, maxLength: 3}), (edits) => {
        let text = layout
        for (const e of edits) {
          const at = e.at % (text.length + 1)
          text = text.slice(0, at) + e.insert + text.slice(at + e.cut)
        }
        agrees(text)
      }),
      {numRuns: 3000},
    )
  })
})
