// validate, layout export, topo show's vschema and the vschema safety rail, as subprocesses on a file: topology.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {BIN, cli, hasStackTrace, ROOT} from '../helpers/cli.js'
import {layoutText} from '../helpers/layouts.js'

const GB = 'plans/guestbook'
const tmp = mkdtempSync(join(tmpdir(), 'sf-e2e-validate-'))
const newTopo = () => `file:${mkdtempSync(join(tmp, 'topo-'))}`

describe('shardform validate', () => {
  it('prints one OK line per valid file and exits 0', async () => {
    const r = await cli(['validate', `${GB}/1-shard.yaml`, `${GB}/2-shards.yaml`, `${GB}/4-shards.yaml`])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(3)
    expect(lines[1]).toMatch(
      /^plans\/guestbook\/2-shards\.yaml: OK \(keyspace test_keyspace, 2 shard\(s\) \(-80, 80-\)/,
    )
  })

  it('prints every problem as file:line:col and exits 1; --json lists them per file', async () => {
    const bad = join(tmp, 'bad.yaml')
    writeFileSync(bad, layoutText(['-80', '70-']).replace('name: hash }', 'name: nope }'))
    const r = await cli(['validate', `${GB}/2-shards.yaml`, bad])
    expect(r.code).toBe(1)
    expect(hasStackTrace(r.stderr)).toBe(false)
    expect(r.stdout).toMatch(/2-shards\.yaml: OK/)
    expect(r.stderr).toContain(`${bad}:`)
    expect(r.stderr).toMatch(new RegExp(`^${bad}:\\d+:\\d+: .*overlap`, 'm'))
    expect(r.stderr).toMatch(/vindex "nope", which is not declared/)
    const j = await cli(['validate', bad, join(tmp, 'missing.yaml'), '--json'])
    expect(j.code).toBe(1)
    const out = JSON.parse(j.stdout)
    expect(out.valid).toBe(false)
    expect(out.files[0].problems.length).toBeGreaterThanOrEqual(2)
    expect(out.files[0].problems[0]).toMatchObject({file: bad, line: expect.any(Number), col: expect.any(Number)})
    expect(out.files[1].problems[0].message).toMatch(/cannot read/)
  })

  it('loads no database or etcd driver (a pre-commit hook pays only for the layout checks)', () => {
    const hook = join(tmp, 'hook.mjs')
    writeFileSync(
      hook,
      `export async function resolve(s, c, next) {
  const r = await next(s, c)
  if (/etcd3|mysql2|zongji/.test(r.url)) process.stderr.write('LOADED ' + r.url + '\\n')
  return r
}
`,
    )
    const args = ['--no-warnings', '--loader', hook, BIN, 'validate', `${GB}/2-shards.yaml`]
    const r = spawnSync(process.execPath, args, {cwd: ROOT, encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}})
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/2-shards\.yaml: OK/)
    expect(r.stderr).not.toContain('LOADED')
    // The hook does see them when a command needs one (the check can fail).
    const etcd = spawnSync(process.execPath, [...args.slice(0, 4), 'topo', 'show', '--topo', 'etcd://127.0.0.1:1/x'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(etcd.stderr).toContain('LOADED')
  })
})

describe('layout export and topo show', () => {
  it('guestbook: export of a keyspace recorded by topo init plans as no changes; topo show shows its vschema', async () => {
    const topo = newTopo()
    expect((await cli(['topo', 'init', `${GB}/2-shards.yaml`, '--topo', topo])).code).toBe(0)
    const file = join(tmp, 'guestbook-export.yaml')
    const e = await cli(['layout', 'export', 'test_keyspace', '--out', file, '--topo', topo])
    expect(e.stderr).toBe('')
    expect(e.code).toBe(0)
    expect(readFileSync(file, 'utf8')).toContain('passwordEnv: SHARDFORM_MYSQL_PASSWORD')
    const p = await cli(['plan', file, '--detailed-exitcode', '--topo', topo])
    expect(p.stdout).toMatch(/^No changes\./)
    expect(p.code).toBe(0)
    const show = await cli(['topo', 'show', 'test_keyspace', '--topo', topo])
    expect(show.stdout).toMatch(/^VSchema: sharded, 1 table\(s\)$/m)
    expect(show.stdout).toMatch(/^messages\s+hash\s+hash\s+page\s+-$/m)
    const json = JSON.parse((await cli(['topo', 'show', 'test_keyspace', '--json', '--topo', topo])).stdout)
    expect(json.keyspaces[0].vschema.vindexes).toEqual({hash: {type: 'hash'}})
  })

  it('4 shards, two tables: export to stdout, plan shows no changes', async () => {
    const topo = newTopo()
    const vschema = `vschema:
  sharded: true
  vindexes:
    hash: { type: hash }
    xx: { type: xxhash }
  tables:
    messages:
      column_vindexes:
        - { column: page, name: hash }
    users:
      column_vindexes:
        - { column: id, name: xx }`
    const src = join(tmp, 'four.yaml')
    writeFileSync(src, layoutText(['-40', '40-80', '80-c0', 'c0-'], {keyspace: 'four', vschema}))
    expect((await cli(['topo', 'init', src, '--topo', topo])).code).toBe(0)
    const e = await cli(['layout', 'export', 'four', '--topo', topo])
    expect(e.code).toBe(0)
    const file = join(tmp, 'four-export.yaml')
    writeFileSync(file, e.stdout)
    const p = await cli(['plan', resolve(file), '--detailed-exitcode', '--topo', topo])
    expect(p.stderr).toBe('')
    expect(p.code).toBe(0)
    const missing = await cli(['layout', 'export', 'nope', '--topo', topo])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/keyspace "nope" does not exist/)
  })

  it('plan refuses the guestbook hash → xxhash change on 2 shards, naming the table and what to do', async () => {
    const topo = newTopo()
    expect((await cli(['topo', 'init', `${GB}/2-shards.yaml`, '--topo', topo])).code).toBe(0)
    const vs = join(tmp, 'vschema-xx.json')
    writeFileSync(vs, readFileSync(`${GB}/vschema.json`, 'utf8').replace('"type": "hash"', '"type": "xxhash"'))
    const layout = join(tmp, '2-xx.yaml')
    writeFileSync(layout, readFileSync(`${GB}/2-shards.yaml`, 'utf8').replace('./vschema.json', vs))
    const r = await cli(['plan', layout, '--topo', topo])
    expect(r.code).toBe(1)
    expect(hasStackTrace(r.stderr)).toBe(false)
    expect(r.stderr).toContain('refusing a vschema change that moves existing rows of "messages"')
    expect(r.stderr).toContain('hash of page → xxhash of page')
  })
})
