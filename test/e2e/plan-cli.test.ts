// The plan half end to end: topo init/show/export, plan, show, vindex, route — as subprocesses, on both backends.
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {cli, hasStackTrace} from '../helpers/cli.js'
import {startEtcd} from '../helpers/etcd.js'
import {expectPlanSchema} from '../helpers/plan-schema.js'
import {loadLayout} from '../../src/layout/index.js'
import {initKeyspace} from '../../src/layout/init.js'
import {openTopo} from '../../src/topo/open.js'

const GB = 'plans/guestbook'
const tmp = mkdtempSync(join(tmpdir(), 'sf-e2e-plan-'))

let etcd: Awaited<ReturnType<typeof startEtcd>>
beforeAll(async () => {
  etcd = await startEtcd()
})
afterAll(async () => {
  await etcd?.stop()
})

describe.each([
  ['file', () => `file:${mkdtempSync(join(tmp, 'topo-'))}`],
  ['etcd', () => etcd.newUrl()],
])('plan, show and topo on the %s backend', (_name, topoUrl) => {
  let topo: string
  const run = (...args: string[]) => cli([...args, '--topo', topo])

  // The tests below read this topology, initialised here (not by the first test); the first test inits its own.
  beforeAll(async () => {
    topo = topoUrl()
    const store = await openTopo(topo)
    try {
      await initKeyspace(store, loadLayout(`${GB}/1-shard.yaml`))
    } finally {
      await store.close()
    }
  })

  it('topo init bootstraps the keyspace, and refuses to do it twice', async () => {
    const own = topoUrl()
    const init = () => cli(['topo', 'init', `${GB}/1-shard.yaml`, '--topo', own])
    const r = await init()
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/Initialised keyspace test_keyspace .*1 shard\(s\) \(0\), 3 tablet\(s\)/)
    const again = await init()
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(
      /^Error: keyspace "test_keyspace" already exists in .*; topo init only bootstraps a new keyspace/,
    )
  })

  it('topo show lists shards with key ranges and what they serve, and tablets', async () => {
    const r = await run('topo', 'show', 'test_keyspace', '--json')
    expect(r.code).toBe(0)
    const ks = JSON.parse(r.stdout).keyspaces[0]
    expect(ks).toMatchObject({name: 'test_keyspace', sharded: false, database: 'vt_test_keyspace'})
    expect(ks.shards).toEqual([
      {name: '0', range: 'min..max', serving: ['primary', 'replica', 'rdonly'], primary: 'test-100', state: 'serving'},
    ])
    expect(ks.tablets.map((t: {alias: string; type: string}) => `${t.alias}:${t.type}`)).toEqual([
      'test-100:primary',
      'test-101:replica',
      'test-102:rdonly',
    ])
    const text = await run('topo', 'show')
    expect(text.stdout).toMatch(/^0\s+min\.\.max\s+primary,replica,rdonly\s+test-100\s+serving$/m)
    const missing = await run('topo', 'show', 'nope')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/keyspace "nope" does not exist/)
  })

  it('plan prints the changes, the phases and a summary; exit codes follow --detailed-exitcode', async () => {
    const r = await run('plan', `${GB}/2-shards.yaml`)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('~ vschema test_keyspace')
    expect(r.stdout).toMatch(
      /^\s+\+ shard -80 .*key range \[min, 80\); tablets test-200 \(primary 127\.0\.0\.1:17200\)/m,
    )
    expect(r.stdout).toMatch(/^\s+- shard 0 /m)
    expect(r.stdout).toMatch(/^\s+→ traffic primary 0 .*primary: 0 → -80, 80-/m)
    expect(r.stdout).toMatch(/^\s+- {2}"sharded": false,$/m)
    expect(r.stdout).toMatch(/^\s+4\. clone\s+parallel, gate: canary/m)
    expect(r.stdout).toMatch(/^\s+migrate_primary\/0 /m)
    expect(r.stdout).toMatch(/^Plan: 2 to create, 1 to retire, 1 to update, 3 traffic moves; 14 tasks in 10 phases\.$/m)
    expect((await run('plan', `${GB}/2-shards.yaml`, '--detailed-exitcode')).code).toBe(2)
    const same = await run('plan', `${GB}/1-shard.yaml`, '--detailed-exitcode')
    expect(same.code).toBe(0)
    expect(same.stdout).toMatch(/^No changes\. Keyspace test_keyspace matches/)
  })

  it('plan --json is the documented versioned object', async () => {
    const r = await run('plan', `${GB}/4-shards.yaml`, '--json')
    expect(r.code).toBe(0)
    const j = expectPlanSchema(JSON.parse(r.stdout))
    expect(j.format_version).toBe('1')
    expect(j.keyspace).toBe('test_keyspace')
    expect(j.fingerprint).toMatch(/^[0-9a-f]{16}$/)
    expect(
      j.changes
        .filter((c: {kind: string}) => c.kind === 'shard')
        .map((c: {action: string; name: string}) => `${c.action} ${c.name}`),
    ).toEqual(['create -40', 'create 40-80', 'create 80-c0', 'create c0-', 'retire 0'])
    expect(j.phases.map((p: {name: string}) => p.name)).toEqual([
      'apply_vschema',
      'create_shards',
      'copy_schema',
      'clone',
      'wait_for_filtered_replication',
      'diff',
      'migrate_rdonly',
      'migrate_replica',
      'migrate_primary',
      'retire_sources',
    ])
    expect(j.phases[3]).toEqual({
      name: 'clone',
      mode: 'parallel',
      gate: 'canary',
      tasks: [{id: 'clone/0', shard: '0', detail: expect.stringContaining('rdonly test-102')}],
    })
  })

  it('plan --out saves a plan that show renders identically', async () => {
    const file = join(tmp, `${Math.random().toString(36).slice(2)}.plan`)
    const saved = await run('plan', `${GB}/2-shards.yaml`, '--out', file, '--json')
    expect(saved.code).toBe(0)
    const shown = await cli(['show', file, '--json'])
    expect(shown.code).toBe(0)
    expect(expectPlanSchema(JSON.parse(shown.stdout))).toEqual(expectPlanSchema(JSON.parse(saved.stdout)))
    const text = await cli(['show', file])
    expect(text.stdout).toMatch(/^Plan: 2 to create/m)
  })

  it('topo export writes a snapshot that plans identically and refuses writes', async () => {
    const snap = join(tmp, `${Math.random().toString(36).slice(2)}-snapshot.json`)
    const r = await run('topo', 'export', '--out', snap)
    expect(r.code).toBe(0)
    const live = expectPlanSchema(JSON.parse((await run('plan', `${GB}/2-shards.yaml`, '--json')).stdout))
    const fromSnap = await cli(['plan', `${GB}/2-shards.yaml`, '--json', '--topo', `file:${snap}`])
    expect(fromSnap.code).toBe(0)
    const j = expectPlanSchema(JSON.parse(fromSnap.stdout))
    // A snapshot is planned offline: the pre-flight checks and the estimates are skipped, and say why.
    expect(j.preflight).toEqual({ran: false, skipped: expect.stringContaining('topology snapshot'), checks: []})
    expect(j.estimates).toEqual({ran: false, skipped: 'planned against a topology snapshot, offline'})
    expect(live.estimates).toMatchObject({ran: false, skipped: expect.stringMatching(/^tablets unreachable: /)})
    const same = {created_at: 0, estimates: 0, preflight: 0}
    expect({...j, ...same}).toEqual({...live, ...same})
    const md = await cli(['plan', `${GB}/2-shards.yaml`, '--format', 'markdown', '--topo', `file:${snap}`])
    expect(md.code).toBe(0)
    expect(md.stdout).toMatch(/^### shardform plan: reshard of keyspace test\\_keyspace\n/)
    expect(md.stdout).toContain('<details><summary>Phases (10, 14 tasks)</summary>')
    const both = await cli(['plan', `${GB}/2-shards.yaml`, '--json', '--format', 'text', '--topo', `file:${snap}`])
    expect(both.code).toBe(1)
    const other = join(tmp, 'other.yaml')
    writeFileSync(
      other,
      'keyspace: other\nshards: { "0": { tablets: [ { alias: o-1, type: primary, port: 3306 } ] } }\n',
    )
    const write = await cli(['topo', 'init', other, '--topo', `file:${snap}`])
    expect(write.code).toBe(1)
    expect(write.stderr).toMatch(/read-only snapshot/)
  })
})

describe('errors: one clear message, exit 1, no stack trace', () => {
  const topo = () => `file:${mkdtempSync(join(tmp, 'topo-'))}`

  it('a broken layout names file:line:col', async () => {
    const f = join(tmp, 'broken.yaml')
    writeFileSync(
      f,
      'keyspace: test_keyspace\nshards:\n  "-80":\n    tablets: [ { alias: a-1, type: primary, port: 99999 } ]\n',
    )
    const r = await cli(['plan', f, '--topo', topo()])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      new RegExp(`^Error: ${f}:4:\\d+: shards\\["-80"\\]\\.tablets\\[0\\]\\.port: must be at most 65535$`, 'm'),
    )
    expect(hasStackTrace(r.stderr)).toBe(false)
    const dbg = await cli(['plan', f, '--topo', topo(), '--debug'])
    expect(hasStackTrace(dbg.stderr)).toBe(true)
  })

  it('planning a keyspace that does not exist', async () => {
    const r = await cli(['plan', `${GB}/2-shards.yaml`, '--topo', topo()])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/keyspace "test_keyspace" does not exist in the topology.*shardform topo init/)
    expect(hasStackTrace(r.stderr)).toBe(false)
  })

  it.each([
    [['plan'], /Missing 1 required arg/],
    [['plan', 'x.yaml', '--bogus'], /Nonexistent flag: --bogus/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['plan', '/nonexistent.yaml'], /\/nonexistent\.yaml: cannot read the layout: no such file/],
    [['show', '/nonexistent.plan'], /cannot read the plan file: no such file/],
    [['plan', `${GB}/2-shards.yaml`, '--topo', 'zk://x'], /zk:\/\/x/],
    [['vindex', 'hash', 'abc'], /value "abc" is not an integer/],
    [['vindex', 'hash', 'NULL'], /NULL has no keyspace id/],
    [['vindex', 'lookup', '1'], /unknown vindex type "lookup"/],
    [['route', `${GB}/2-shards.yaml`, 'nosuch', '1'], /table "nosuch" is not in the vschema/],
  ])('%j', async (args, msg) => {
    const r = await cli(args as string[], {env: {SHARDFORM_TOPO: topo()}})
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(msg)
    expect(hasStackTrace(r.stderr)).toBe(false)
  })
})

describe('vindex and route', () => {
  it('vindex prints one keyspace id per value, in order', async () => {
    const r = await cli(['vindex', 'hash', '1', '2', '3'])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('166b40b44aba4bd6\n06e7ea22ce92708f\n4eb190c9a2fa169c\n')
    expect((await cli(['vindex', 'xxhash', 'test1'])).stdout).toBe('d01ab7e4d6978f0b\n')
    expect((await cli(['vindex', 'binary', '0x00ff'])).stdout).toBe('00ff\n')
  })

  it('route prints value, keyspace id and the owning shard under a layout', async () => {
    const r = await cli(['route', `${GB}/4-shards.yaml`, 'messages', '1', '4', '6'])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('1\t166b40b44aba4bd6\t-40\n4\td2fd8867d50d2dfe\tc0-\n6\tf098480ac4c4be71\tc0-\n')
    const unsharded = await cli(['route', `${GB}/1-shard.yaml`, 'messages', '1'])
    expect(unsharded.stdout).toBe('1\t-\t0\n')
  })
})
