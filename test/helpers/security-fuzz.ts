// Hostile input for the loaders and the CLI (fast-check arbitraries): mutations of a valid guestbook layout and of
// a saved plan — keys deleted, added, renamed; values of the wrong type, huge, deeply nested, long; names with
// quotes, backticks, semicolons, `--`, NUL, control characters; and byte-level damage (truncation, invalid UTF-8).
import fc from 'fast-check'
import {stringify as yamlStringify} from 'yaml'

/** The 2-shards guestbook layout with its vschema inline (a file in a temp dir cannot point at ./vschema.json). */
export const BASE_LAYOUT = {
  keyspace: 'test_keyspace',
  database: 'vt_test_keyspace',
  vschema: {
    sharded: true,
    vindexes: {hash: {type: 'hash'}},
    tables: {messages: {column_vindexes: [{column: 'page', name: 'hash'}]}},
  },
  defaults: {
    user: 'app',
    passwordEnv: 'SHARDFORM_MYSQL_PASSWORD',
    adminUser: 'shardform',
    adminPasswordEnv: 'SHARDFORM_ADMIN_PASSWORD',
  },
  approvals: {default: 'canary', phases: {copy_schema: 'none'}},
  settings: {maxReplicationLagSeconds: 30, cutoverTimeoutSeconds: 30},
  shards: {
    '-80': {
      tablets: [
        {alias: 'test-200', type: 'primary', host: '127.0.0.1', port: 17200},
        {alias: 'test-201', type: 'replica', host: '127.0.0.1', port: 17201},
        {alias: 'test-202', type: 'rdonly', host: '127.0.0.1', port: 17202},
      ],
    },
    '80-': {
      tablets: [
        {alias: 'test-300', type: 'primary', host: '127.0.0.1', port: 17300},
        {alias: 'test-301', type: 'replica', host: '127.0.0.1', port: 17301},
        {alias: 'test-302', type: 'rdonly', host: '127.0.0.1', port: 17302},
      ],
    },
  },
}

/** Pieces that break naive quoting, parsing or printing. */
export const HOSTILE_PIECES = [
  '`',
  "'",
  '"',
  ';',
  '--',
  '#',
  '/*',
  '*/',
  '\0',
  '\\',
  '\n',
  '\r\n',
  '\t',
  '\u001b[31m',
  '\u001b]0;owned\u0007',
  '\u2028',
  '\u0085',
  '`; DROP TABLE t; --',
  "' OR '1'='1",
  'a`b',
  "a'b",
  'a"b',
  'a b',
  'select',
  'from',
  'where',
  '$x',
  '${PATH}',
  '%s',
  '%n',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  '💥',
  '\uFFFF',
  '\uD800',
  'ÿ',
  '-80',
  '80-',
  '0',
  '-',
  '00-80',
  '../../etc/passwd',
  '/dev/zero',
  '.',
  'null',
  'true',
  '~',
  '&a',
  '*a',
  '!!binary',
  '? x',
  '- y',
  '{',
  '[',
  ': ',
]

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...HOSTILE_PIECES),
  fc.array(fc.constantFrom(...HOSTILE_PIECES), {minLength: 2, maxLength: 4}).map((a) => a.join('')),
  fc.string({unit: 'binary', maxLength: 24}),
  fc.string({unit: 'grapheme', maxLength: 12}),
  // Long: past every length limit.
  fc.tuple(fc.constantFrom('a', '`', 'é', ';'), fc.integer({min: 65, max: 20_000})).map(([c, n]) => c.repeat(n)),
)

/** Names that are valid somewhere but hostile elsewhere (keys of shards, tables, vindexes, settings). */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  hostileString,
  fc.constantFrom(
    'keyspace',
    'shards',
    'tablets',
    'vschema',
    'tls',
    'sharded',
    'type',
    'column_vindexes',
    'extra',
    '<<',
    '-40',
    '40-80',
    'c0-',
  ),
)

const HUGE_NUMBERS = [
  1e308,
  -1e308,
  2 ** 53 + 2,
  -(2 ** 63),
  2 ** 64,
  65536,
  0,
  -1,
  1.5,
  1e-300,
  Number.MAX_SAFE_INTEGER,
  4294967296,
]

/** Values of any type, some nested. */
export const weirdValue: fc.Arbitrary<unknown> = fc.letrec<{value: unknown}>((tie) => ({
  value: fc.oneof(
    {depthSize: 'small', withCrossShrink: true},
    hostileString,
    fc.constantFrom(...HUGE_NUMBERS),
    fc.integer(),
    fc.double({noNaN: true}),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), {maxLength: 3}),
    fc.dictionary(hostileKey, tie('value'), {maxKeys: 3}),
  ),
})).value

/** A placeholder replaced in the text by a very deeply nested value (deeper than any serializer would write). */
export const DEEP = '\u0000DEEP\u0000'

export type Mutation =
  | {op: 'delete'; at: number}
  | {op: 'set'; at: number; value: unknown}
  | {op: 'add'; at: number; key: string; value: unknown}
  | {op: 'rename'; at: number; key: string}
  | {op: 'name'; target: NameTarget; value: string}
  | {op: 'deep'; at: number}

/** Places of the layout that become identifiers, file names or SQL. */
export type NameTarget =
  'keyspace' | 'database' | 'shard' | 'alias' | 'table' | 'column' | 'vindex' | 'user' | 'passwordEnv' | 'host'

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({op: fc.constant('delete' as const), at: fc.nat()}),
  fc.record({op: fc.constant('set' as const), at: fc.nat(), value: weirdValue}),
  fc.record({op: fc.constant('add' as const), at: fc.nat(), key: hostileKey, value: weirdValue}),
  fc.record({op: fc.constant('rename' as const), at: fc.nat(), key: hostileKey}),
  fc.record({
    op: fc.constant('name' as const),
    target: fc.constantFrom<NameTarget>(
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
    ),
    value: hostileString,
  }),
  fc.record({op: fc.constant('deep' as const), at: fc.nat()}),
)

type Json = null | boolean | number | string | Json[] | {[k: string]: Json}
type Path = Array<string | number>

/** Every path of a JSON-like tree (the root included). */
function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at)
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out))
  else if (v !== null && typeof v === 'object')
    for (const k of Object.keys(v)) paths((v as Record<string, unknown>)[k], [...at, k], out)
  return out
}

function parentOf(root: unknown, path: Path): unknown {
  let cur = root
  for (const seg of path.slice(0, -1)) cur = (cur as Record<string | number, unknown>)[seg]
  return cur
}

/** Own-property assignment (a "__proto__" key must become a key, as JSON.parse and YAML loaders make it). */
function put(obj: object, key: string | number, value: unknown): void {
  Object.defineProperty(obj, key, {value, enumerable: true, writable: true, configurable: true})
}

/** Apply mutations to a deep copy of `base`. */
export function mutate<T>(base: T, muts: Mutation[]): unknown {
  let root: unknown = structuredClone(base)
  for (const m of muts) {
    if (m.op === 'name') {
      root = rename(root, m.target, m.value)
      continue
    }
    const all = paths(root)
    const path = all[m.at % all.length]!
    if (m.op === 'set' || m.op === 'deep') {
      const value = m.op === 'deep' ? DEEP : m.value
      if (path.length === 0) root = value
      else put(parentOf(root, path) as object, path[path.length - 1]!, value)
    } else if (m.op === 'delete') {
      if (path.length === 0) continue
      const parent = parentOf(root, path)
      const key = path[path.length - 1]!
      if (Array.isArray(parent)) parent.splice(key as number, 1)
      else delete (parent as Record<string, unknown>)[key as string]
    } else if (m.op === 'add') {
      // Into the nearest object at or above the path.
      for (let p = path; ; p = p.slice(0, -1)) {
        const node = p.length === 0 ? root : (parentOf(root, p) as Record<string | number, unknown>)[p[p.length - 1]!]
        if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
          put(node, m.key, m.value)
          break
        }
        if (p.length === 0) break
      }
    } else if (m.op === 'rename') {
      if (path.length === 0) continue
      const parent = parentOf(root, path)
      const key = path[path.length - 1]!
      if (parent === null || typeof parent !== 'object' || Array.isArray(parent)) continue
      const value = (parent as Record<string, unknown>)[key as string]
      delete (parent as Record<string, unknown>)[key as string]
      put(parent, m.key, value)
    }
  }
  return root
}

/** Put a hostile name where the layout names a keyspace, database, shard, tablet, table, column, vindex, user… */
function rename(root: unknown, target: NameTarget, value: string): unknown {
  const l = root as Record<string, any>
  if (l === null || typeof l !== 'object') return root
  const firstShard = l.shards && typeof l.shards === 'object' ? Object.keys(l.shards)[0] : undefined
  const tablets = firstShard !== undefined ? l.shards[firstShard]?.tablets : undefined
  const t0 = Array.isArray(tablets) && tablets[0] && typeof tablets[0] === 'object' ? tablets[0] : undefined
  const vs = l.vschema && typeof l.vschema === 'object' ? l.vschema : undefined
  const tables = vs?.tables && typeof vs.tables === 'object' ? vs.tables : undefined
  const firstTable = tables ? Object.keys(tables)[0] : undefined
  const cv = firstTable !== undefined ? tables[firstTable]?.column_vindexes?.[0] : undefined
  switch (target) {
    case 'keyspace':
    case 'database':
      l[target] = value
      break
    case 'shard':
    case 'table': {
      const map = target === 'shard' ? l.shards : tables
      const key = target === 'shard' ? firstShard : firstTable
      if (map && key !== undefined && key !== value) {
        put(map, value, map[key])
        delete map[key]
      }
      break
    }
    case 'alias':
    case 'host':
      if (t0) t0[target] = value
      break
    case 'user':
    case 'passwordEnv':
      if (t0) t0[target] = value
      else if (l.defaults && typeof l.defaults === 'object') l.defaults[target] = value
      break
    case 'column':
      if (cv && typeof cv === 'object') cv.column = value
      break
    case 'vindex':
      if (cv && typeof cv === 'object') cv.name = value
      if (vs?.vindexes && typeof vs.vindexes === 'object' && 'hash' in vs.vindexes && value !== 'hash') {
        put(vs.vindexes, value, vs.vindexes.hash)
        delete vs.vindexes.hash
      }
      break
  }
  return root
}

export type TextDamage =
  | {op: 'truncate'; at: number}
  | {op: 'insert'; at: number; bytes: number[]}
  | {op: 'cut'; at: number; len: number}
  | {op: 'replace'; at: number; char: string}

/** Byte sequences that are not UTF-8 (or are NUL, BOMs, overlong forms, encoded surrogates). */
const BAD_BYTES = [
  [0xff],
  [0xfe],
  [0xc3],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80],
  [0x00],
  [0xef, 0xbb, 0xbf],
  [0xe2, 0x80],
]

export const textDamage: fc.Arbitrary<TextDamage> = fc.oneof(
  fc.record({op: fc.constant('truncate' as const), at: fc.nat()}),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.constantFrom(...BAD_BYTES),
      fc.array(fc.integer({min: 0, max: 255}), {minLength: 1, maxLength: 8}),
    ),
  }),
  fc.record({op: fc.constant('cut' as const), at: fc.nat(), len: fc.integer({min: 1, max: 40})}),
  fc.record({
    op: fc.constant('replace' as const),
    at: fc.nat(),
    char: fc.constantFrom(
      ':',
      '{',
      '}',
      '[',
      ']',
      '-',
      '&',
      '*',
      '!',
      '|',
      '>',
      "'",
      '"',
      '%',
      '@',
      '`',
      '#',
      '\t',
      ' ',
      '\n',
      ',',
      '?',
      '\\',
    ),
  }),
)

export function damage(bytes: Buffer, dmg: TextDamage[]): Buffer {
  let b = bytes
  for (const d of dmg) {
    const at = b.length ? d.at % (b.length + 1) : 0
    if (d.op === 'truncate') b = b.subarray(0, at)
    else if (d.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(d.bytes), b.subarray(at)])
    else if (d.op === 'cut') b = Buffer.concat([b.subarray(0, at), b.subarray(at + d.len)])
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(d.char), b.subarray(at + 1)])
  }
  return b
}

/** Deeply nested flow YAML (lists or mappings), n levels. */
function deepText(n: number, kind: 'seq' | 'map'): string {
  return kind === 'seq' ? '['.repeat(n) + ']'.repeat(n) : '{a: '.repeat(n) + '1' + '}'.repeat(n)
}

export type Format = 'json' | 'yaml' | 'yaml-flow'

/** Text of a (mutated) layout; the DEEP placeholder becomes `depth` levels of nesting. */
export function layoutText(value: unknown, format: Format, depth = 3000): string {
  let text: string
  try {
    text =
      format === 'json'
        ? (JSON.stringify(value, null, 1) ?? 'null')
        : yamlStringify(value, {collectionStyle: format === 'yaml-flow' ? 'flow' : 'any', lineWidth: 0})
  } catch {
    text = JSON.stringify(value) ?? 'null'
  }
  const deep = deepText(depth, depth % 2 ? 'seq' : 'map')
  // The placeholder was serialized as a quoted string.
  return text.split(JSON.stringify(DEEP)).join(deep).split('"\\0DEEP\\0"').join(deep)
}

export const format: fc.Arbitrary<Format> = fc.constantFrom('json', 'yaml', 'yaml-flow')
export const depth = fc.constantFrom(101, 150, 1000, 5000, 20_000)

export type {Json}
