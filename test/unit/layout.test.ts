import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {loadLayout, LayoutError, parseLayout} from '../../src/layout/index.js'
import {guestbook} from '../helpers/state.js'
import {layoutText, SHARDED_VSCHEMA} from '../helpers/layouts.js'

function problems(text: string, file = 'l.yaml'): string[] {
  try {
    parseLayout(file, text)
  } catch (err) {
    expect(err).toBeInstanceOf(LayoutError)
    return (err as LayoutError).problems.map((p) => `${p.line}:${p.col} ${p.message}`)
  }
  throw new Error('expected a LayoutError')
}

function message(text: string): string {
  try {
    parseLayout('l.yaml', text)
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('expected an error')
}

const tablet = (alias: string, type: string, port: number) =>
  `      - { alias: ${alias}, type: ${type}, port: ${port} }`

describe('guestbook layouts', () => {
  it('1-shard: shard 0, unsharded, three tablets', () => {
    const l = guestbook('1-shard.yaml')
    expect(l.keyspace).toBe('test_keyspace')
    expect(l.database).toBe('vt_test_keyspace')
    expect(l.vschema.sharded).toBe(false)
    expect(l.shards.map((s) => s.name)).toEqual(['0'])
    expect(l.shards[0].tablets.map((t) => [t.alias, t.type])).toEqual([
      ['test-100', 'primary'],
      ['test-101', 'replica'],
      ['test-102', 'rdonly'],
    ])
    expect(l.shards[0].tablets[0]).toMatchObject({
      host: '127.0.0.1',
      port: 17100,
      user: 'app',
      passwordEnv: 'SHARDFORM_MYSQL_PASSWORD',
      adminUser: 'shardform',
    })
  })

  it('2-shards: vschema from a path, messages sharded on page by hash', () => {
    const l = guestbook('2-shards.yaml')
    expect(l.shards.map((s) => s.name)).toEqual(['-80', '80-'])
    expect(l.vschema.tables?.messages.column_vindexes?.[0]).toEqual({column: 'page', name: 'hash'})
    expect(l.approvals.phases.copy_schema).toBe('none')
    expect(l.approvals.default).toBe('canary')
  })

  it('4-shards', () => {
    expect(guestbook('4-shards.yaml').shards.map((s) => s.name)).toEqual(['-40', '40-80', '80-c0', 'c0-'])
  })
})

describe('defaults and normalisation', () => {
  it('master is accepted for primary; defaults merge into tablets; database defaults to vt_<keyspace>', () => {
    const l = parseLayout(
      'l.yaml',
      `keyspace: ks
defaults: { user: appuser, host: 10.0.0.1 }
shards:
  "0":
    tablets:
      - { alias: a-1, type: master, port: 3306 }
      - { alias: a-2, type: replica, port: 3307, user: other }
`,
    )
    expect(l.database).toBe('vt_ks')
    expect(l.shards[0].tablets[0]).toMatchObject({type: 'primary', host: '10.0.0.1', user: 'appuser'})
    expect(l.shards[0].tablets[1].user).toBe('other')
    expect(l.settings.maxReplicationLagSeconds).toBe(30)
  })

  it('sorts shards by key range', () => {
    const l = parseLayout('l.yaml', layoutText(['80-', 'c0-'.replace('c0-', '40-80'), '-40']))
    expect(l.shards.map((s) => s.name)).toEqual(['-40', '40-80', '80-'])
  })
})

describe('errors name file:line:col, the path and what is wrong', () => {
  it('syntax error', () => {
    const m = message('keyspace: ks\nshards: [\n')
    expect(m).toMatch(/^l\.yaml:\d+:\d+: /)
    expect(m).toMatch(/fix it and run the command again/)
  })

  it('duplicate keys', () => {
    expect(problems('keyspace: a\nkeyspace: b\nshards: {}\n')[0]).toMatch(/^2:1 Map keys must be unique/)
  })

  it('unknown key, pointing at the key and listing the allowed ones', () => {
    const text = layoutText(['0'], {vschema: 'vschema: { sharded: false }'}).replace(
      'port: 21000 }',
      'port: 21000, colour: red }',
    )
    const m = message(text)
    expect(m).toMatch(
      /l\.yaml:6:\d+: shards\["0"\]\.tablets\[0\]\.colour: unknown key "colour"; allowed keys: alias, type, host, port/,
    )
  })

  it('wrong types and ranges', () => {
    const p = problems(`keyspace: ks
shards:
  "0":
    tablets:
      - { alias: a-1, type: boss, port: 70000 }
`)
    expect(p).toEqual(['5:29 must be one of "primary", "master", "replica", "rdonly"', '5:41 must be at most 65535'])
  })

  it('a password where an env variable name belongs', () => {
    expect(
      message(`keyspace: ks
defaults: { passwordEnv: "s3cr3t!" }
shards: { "0": { tablets: [ { alias: a-1, type: primary, port: 1 } ] } }
`),
    ).toMatch(/l\.yaml:2:26: defaults\.passwordEnv: must be the NAME of an environment variable/)
  })

  it('invalid shard names point at the key', () => {
    const p = problems(`keyspace: ks
${'vschema: { sharded: true }'}
shards:
  "-80":
    tablets: [ { alias: a-1, type: primary, port: 1 } ]
  "8G-":
    tablets: [ { alias: a-2, type: primary, port: 2 } ]
`)
    expect(p).toContain(
      '6:3 invalid shard name "8G-": bound "8G" must be hex digits only (e.g. "-80", "80-", "40-80", "0")',
    )
  })

  it('a gap and an overlap in the shards', () => {
    expect(problems(layoutText(['-40', '80-']))).toEqual([
      expect.stringMatching(
        /^\d+:3 key range 40-80 is not covered by any shard between shards "-40" and "80-"; the shards must cover the whole keyspace exactly once$/,
      ),
    ])
    expect(problems(layoutText(['-80', '70-']))).toEqual([
      expect.stringMatching(/shards "-80" and "70-" overlap on key range 70-80/),
    ])
  })

  it('a sharded vschema table without primary vindex, an unknown vindex type, an undeclared vindex', () => {
    const p = problems(`keyspace: ks
vschema:
  sharded: true
  vindexes:
    h: { type: lookup_hash }
  tables:
    a: {}
    b: { column_vindexes: [ { column: x, name: nope } ] }
    c: { type: reference }
shards:
  "0":
    tablets: [ { alias: a-1, type: primary, port: 1 } ]
`)
    expect(p).toEqual([
      '5:16 unknown vindex type "lookup_hash": shardform supports hash, numeric, reverse_bits, xxhash, binary_md5, binary',
      '7:8 table "a" has no primary vindex: add column_vindexes with the sharding column first, or mark it "type: reference"',
      '8:48 table "b" uses vindex "nope", which is not declared under vindexes',
    ])
  })

  it('duplicate aliases and host:port pairs; a shard without exactly one primary', () => {
    const p = problems(`keyspace: ks
vschema: { sharded: true, vindexes: { h: { type: hash } }, tables: {} }
shards:
  "-80":
    tablets:
${tablet('a-1', 'primary', 1)}
${tablet('a-2', 'primary', 2)}
  "80-":
    tablets:
${tablet('a-1', 'replica', 2)}
`)
    expect(p).toEqual([
      '6:7 shard "-80" has 2 primary tablets (a-1, a-2); exactly one is allowed',
      '10:7 shard "80-" has no primary tablet; exactly one tablet must be type: primary',
      '10:18 tablet alias "a-1" is already used in shard "-80"; aliases must be unique',
      '10:44 127.0.0.1:2 is already used by tablet a-2; each tablet needs its own host:port',
    ])
  })

  it('an unsharded vschema with several shards', () => {
    expect(problems(layoutText(['-80', '80-'], {vschema: 'vschema: { sharded: false }'}))).toEqual([
      expect.stringMatching(/^2:\d+ the vschema is unsharded but the layout declares 2 shards/),
    ])
  })

  it('errors inside a separate vschema file name that file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sf-layout-'))
    writeFileSync(
      join(dir, 'vs.json'),
      '{\n  "sharded": true,\n  "vindexes": {"h": {"type": "hash"}},\n  "tables": {"t": {"column_vindexes": [{"column": "x", "name": "g"}]}}\n}\n',
    )
    writeFileSync(
      join(dir, 'l.yaml'),
      'keyspace: ks\nvschema: ./vs.json\nshards: { "0": { tablets: [ { alias: a-1, type: primary, port: 1 } ] } }\n',
    )
    expect(() => loadLayout(join(dir, 'l.yaml'))).toThrow(
      new RegExp(
        `^${join(dir, 'vs.json')}:4:\\d+: tables\\.t\\.column_vindexes\\[0\\]\\.name: table "t" uses vindex "g"`,
      ),
    )
  })

  it('missing files and invalid UTF-8', () => {
    expect(() => loadLayout('/nonexistent/l.yaml')).toThrow(
      '/nonexistent/l.yaml: cannot read the layout: no such file.',
    )
    const dir = mkdtempSync(join(tmpdir(), 'sf-layout-'))
    writeFileSync(
      join(dir, 'bad.yaml'),
      Buffer.concat([Buffer.from('keyspace: ks\nx: "a'), Buffer.from([0xc3, 0x28]), Buffer.from('"\n')]),
    )
    expect(() => loadLayout(join(dir, 'bad.yaml'))).toThrow(/bad\.yaml:2:6: the file is not valid UTF-8/)
  })

  it('a document that is not a mapping', () => {
    expect(message('- a\n- b\n')).toMatch(/^l\.yaml:1:1: a layout must be a mapping/)
  })
})

describe('one reader: yaml, and JSON.parse for JSON text', () => {
  const yamlText = layoutText(['-80', '80-'])
  const asJSON = (text: string) => JSON.stringify(JSON.parse(JSON.stringify(parseLayout('l.yaml', text))), null, 1)

  it('a layout written as JSON reads as the same layout written as YAML', () => {
    const json = JSON.stringify(
      {
        keyspace: 'test_keyspace',
        vschema: parseLayout('l.yaml', yamlText).vschema,
        shards: Object.fromEntries(parseLayout('l.yaml', yamlText).shards.map((s) => [s.name, {tablets: s.tablets}])),
      },
      null,
      2,
    )
    expect(asJSON(json)).toEqual(asJSON(yamlText))
  })

  it('JSON errors name file:line:col; a key written twice is refused, not "the last one wins"', () => {
    const json =
      '{\n "keyspace": "ks",\n "shards": {"0": {"tablets": [\n  {"alias": "a-1", "type": "primary", "port": 70000}]}}}\n'
    expect(problems(json)).toEqual([expect.stringMatching(/^4:\d+ must be at most 65535/)])
    const twice =
      '{\n "keyspace": "ks",\n "shards": {"0": {"tablets": [{"alias": "a-1", "type": "primary", "port": 1}]}},\n "keyspace": "ks2"}\n'
    expect(problems(twice)).toEqual([expect.stringMatching(/^4:2 Map keys must be unique/)])
  })

  it('anchors, aliases (more than a hundred of one) and merge keys', () => {
    // 2 shards of 60 tablets, 119 of them merging the first one's host and type (the default limit of `yaml` is 100).
    const shard = (name: string, first: number) => [
      `  "${name}":`,
      '    tablets:',
      first
        ? `      - {alias: p-${name}, type: primary, port: ${first}}`
        : '      - &t {alias: p-0, type: primary, host: 10.0.0.9, port: 1}',
      ...Array.from(
        {length: 59},
        (_, i) => `      - {<<: *t, type: replica, alias: a-${first + i}, port: ${first + i + 2}}`,
      ),
    ]
    const l = parseLayout(
      'l.yaml',
      ['keyspace: ks', SHARDED_VSCHEMA, 'shards:', ...shard('-80', 0), ...shard('80-', 100)].join('\n'),
    )
    expect(l.shards.flatMap((s) => s.tablets)).toHaveLength(120)
    expect(l.shards[1].tablets[59]).toMatchObject({alias: 'a-158', type: 'replica', host: '10.0.0.9', port: 160})
  })

  it('an alias without its anchor and an unknown tag are problems at their place', () => {
    expect(problems('keyspace: ks\nshards: *nowhere\n')).toEqual([expect.stringMatching(/^2:9 Unresolved alias/)])
    expect(problems('keyspace: !!js/function ks\nshards: {}\n')).toEqual([
      expect.stringMatching(/^1:11 Unresolved tag/),
    ])
  })
})
