import {describe, expect, it} from 'vitest'
import {plan, PlanError, type Plan} from '../../src/plan/index.js'
import {renderPlanText} from '../../src/cli/views/plan-text.js'
import {colors} from '../../src/util/color.js'
import type {Layout} from '../../src/layout/types.js'
import type {KeyspaceState} from '../../src/plan/keyspace-state.js'
import {guestbook, stateOf} from '../helpers/state.js'
import {makeLayout} from '../helpers/layouts.js'
import {generateShards} from '../../src/keyspace/keyrange.js'

const NOW = '2026-01-01T00:00:00.000Z'
const ids = (p: Plan) => p.phases.map((ph) => [ph.name, ph.mode, ph.tasks.map((t) => t.id)])
const run = (from: Layout, to: Layout) => plan(stateOf(from), to, {now: NOW})
const refusal = (fn: () => unknown): string => {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(PlanError)
    return (err as Error).message
  }
  throw new Error('expected a refusal')
}

describe('planner: reshards', () => {
  it('1 → 2 (guestbook): the seed workflow, Vitess task ids, in order', () => {
    const p = run(guestbook('1-shard.yaml'), guestbook('2-shards.yaml'))
    expect(p.kind).toBe('reshard')
    expect(p.groups).toEqual([{range: '0', sources: ['0'], destinations: ['-80', '80-']}])
    expect(ids(p)).toEqual([
      ['apply_vschema', 'sequential', ['apply_vschema']],
      ['create_shards', 'parallel', ['create_shards/-80', 'create_shards/80-']],
      ['copy_schema', 'parallel', ['copy_schema/-80', 'copy_schema/80-']],
      ['clone', 'parallel', ['clone/0']],
      [
        'wait_for_filtered_replication',
        'parallel',
        ['wait_for_filtered_replication/-80', 'wait_for_filtered_replication/80-'],
      ],
      ['diff', 'parallel', ['diff/-80', 'diff/80-']],
      ['migrate_rdonly', 'sequential', ['migrate_rdonly/0']],
      ['migrate_replica', 'sequential', ['migrate_replica/0']],
      ['migrate_primary', 'sequential', ['migrate_primary/0']],
      ['retire_sources', 'sequential', ['retire_sources/0']],
    ])
    expect(p.phases.find((ph) => ph.name === 'copy_schema')!.gate).toBe('none')
    expect(p.phases.find((ph) => ph.name === 'clone')!.gate).toBe('canary')
    expect(p.changes.map((c) => `${c.action} ${c.kind} ${c.name}`)).toEqual([
      'update vschema test_keyspace',
      'create shard -80',
      'create shard 80-',
      'retire shard 0',
      'move traffic rdonly 0',
      'move traffic replica 0',
      'move traffic primary 0',
    ])
    expect(p.vschemaDiff).toMatch(/^--- vschema \(topology\)\n\+\+\+ vschema \(layout\)\n@@/)
    expect(p.vschemaDiff).toContain('-  "sharded": false,')
    expect(p.vschemaDiff).toContain('+  "sharded": true,')
    expect(p.summary).toEqual({create: 2, retire: 1, update: 1, move: 3, tasks: 14})
    expect(p.phases.find((ph) => ph.name === 'clone')!.tasks[0].detail).toMatch(/rdonly test-102/)
  })

  it('is deterministic', () => {
    expect(run(guestbook('1-shard.yaml'), guestbook('2-shards.yaml'))).toEqual(
      run(guestbook('1-shard.yaml'), guestbook('2-shards.yaml')),
    )
  })

  it('1 → 4', () => {
    const p = run(makeLayout(['0']), makeLayout(['-40', '40-80', '80-c0', 'c0-'], {base: 5000}))
    expect(p.groups).toEqual([{range: '0', sources: ['0'], destinations: ['-40', '40-80', '80-c0', 'c0-']}])
    expect(p.phases.find((ph) => ph.name === 'clone')!.tasks.map((t) => t.id)).toEqual(['clone/0'])
    expect(p.phases.find((ph) => ph.name === 'diff')!.tasks).toHaveLength(4)
    expect(p.phases.some((ph) => ph.name === 'apply_vschema')).toBe(false)
  })

  it('2 → 4: two independent groups, one phase lists the tasks of both', () => {
    const p = run(guestbook('2-shards.yaml'), guestbook('4-shards.yaml'))
    expect(p.groups).toEqual([
      {range: '-80', sources: ['-80'], destinations: ['-40', '40-80']},
      {range: '80-', sources: ['80-'], destinations: ['80-c0', 'c0-']},
    ])
    expect(ids(p).map(([n, , t]) => [n, t])).toEqual([
      ['create_shards', ['create_shards/-40', 'create_shards/40-80', 'create_shards/80-c0', 'create_shards/c0-']],
      ['copy_schema', ['copy_schema/-40', 'copy_schema/40-80', 'copy_schema/80-c0', 'copy_schema/c0-']],
      ['clone', ['clone/-80', 'clone/80-']],
      [
        'wait_for_filtered_replication',
        [
          'wait_for_filtered_replication/-40',
          'wait_for_filtered_replication/40-80',
          'wait_for_filtered_replication/80-c0',
          'wait_for_filtered_replication/c0-',
        ],
      ],
      ['diff', ['diff/-40', 'diff/40-80', 'diff/80-c0', 'diff/c0-']],
      ['migrate_rdonly', ['migrate_rdonly/-80', 'migrate_rdonly/80-']],
      ['migrate_replica', ['migrate_replica/-80', 'migrate_replica/80-']],
      ['migrate_primary', ['migrate_primary/-80', 'migrate_primary/80-']],
      ['retire_sources', ['retire_sources/-80', 'retire_sources/80-']],
    ])
    expect(p.phases[2].tasks.map((t) => t.group)).toEqual([0, 1])
  })

  it('4 → 2: a merge; migrations are per group, named by its key range', () => {
    const from = makeLayout(['-40', '40-80', '80-c0', 'c0-'], {base: 5000})
    const p = run(from, makeLayout(['-80', '80-']))
    expect(p.groups).toEqual([
      {range: '-80', sources: ['-40', '40-80'], destinations: ['-80']},
      {range: '80-', sources: ['80-c0', 'c0-'], destinations: ['80-']},
    ])
    expect(p.phases.find((ph) => ph.name === 'clone')!.tasks.map((t) => t.id)).toEqual([
      'clone/-40',
      'clone/40-80',
      'clone/80-c0',
      'clone/c0-',
    ])
    expect(p.phases.find((ph) => ph.name === 'migrate_primary')!.tasks.map((t) => t.id)).toEqual([
      'migrate_primary/-80',
      'migrate_primary/80-',
    ])
    expect(p.phases.find((ph) => ph.name === 'retire_sources')!.tasks).toHaveLength(4)
  })

  it('2 → 3 with unaligned boundaries: one group', () => {
    const p = run(makeLayout(['-80', '80-']), makeLayout(['-55', '55-aa', 'aa-'], {base: 5000}))
    expect(p.groups).toEqual([{range: '0', sources: ['-80', '80-'], destinations: ['-55', '55-aa', 'aa-']}])
    expect(p.phases.find((ph) => ph.name === 'migrate_primary')!.tasks.map((t) => t.id)).toEqual(['migrate_primary/0'])
  })

  it("says when a group's traffic move is more writes than etcd takes in one transaction by default", () => {
    const wide = run(makeLayout(['0']), makeLayout(generateShards(128), {base: 5000}))
    expect(wide.notes.join(' ')).toContain(
      'Each traffic move of the widest group (129 shards) writes 131 topology records in one transaction: on etcd, raise --max-txn-ops (default 128)',
    )
    const narrow = run(makeLayout(['0']), makeLayout(generateShards(64), {base: 5000}))
    expect(narrow.notes.join(' ')).not.toContain('--max-txn-ops')
  })

  it('several independent groups at once, unchanged shards left alone', () => {
    const from = makeLayout(['-40', '40-80', '80-c0', 'c0-'], {base: 5000})
    const to = makeLayout(['-20', '20-40', '40-80', '80-'], {base: 7000})
    // keep 40-80's tablets as they are
    to.shards[2] = from.shards[1]
    const p = run(from, to)
    expect(p.groups).toEqual([
      {range: '-40', sources: ['-40'], destinations: ['-20', '20-40']},
      {range: '80-', sources: ['80-c0', 'c0-'], destinations: ['80-']},
    ])
    expect(p.changes.filter((c) => c.kind === 'shard').map((c) => `${c.action} ${c.name}`)).toEqual([
      'create -20',
      'create 20-40',
      'create 80-',
      'retire -40',
      'retire 80-c0',
      'retire c0-',
    ])
    expect(JSON.stringify(p.phases)).not.toContain('40-80')
  })
})

describe('planner: updates without a reshard', () => {
  it('vschema only', () => {
    const from = makeLayout(['-80', '80-'])
    const to = structuredClone(from)
    to.vschema.tables!.other = {type: 'reference'}
    const p = run(from, to)
    expect(p.kind).toBe('update')
    expect(ids(p)).toEqual([['apply_vschema', 'sequential', ['apply_vschema']]])
    expect(p.vschemaDiff).toContain('+    "other": {')
  })

  it('table names with control characters are printed escaped, never raw', () => {
    const from = makeLayout(['-80', '80-'])
    const to = structuredClone(from)
    to.vschema.tables!['x\u001b[2J\u009b31m\u2028y'] = {type: 'reference'}
    const text = renderPlanText(run(from, to), colors(false))
    expect(text).toContain('x\\u001b[2J\\u009b31m\\u2028y')
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/)
  })

  it('tablet-only changes: add, change, remove a non-primary tablet', () => {
    const from = makeLayout(['-80', '80-'])
    const to = structuredClone(from)
    to.shards[0].tablets.push({...to.shards[0].tablets[1], alias: 't-9999', port: 29999})
    to.shards[1].tablets[1].port = 29998
    to.shards[1].tablets = to.shards[1].tablets.filter((t) => t.type !== 'rdonly')
    const p = run(from, to)
    expect(p.kind).toBe('update')
    expect(p.changes.map((c) => `${c.action} ${c.kind} ${c.name} ${c.detail}`)).toEqual([
      'create tablet t-9999 t-9999 (replica 127.0.0.1:29999) in shard -80',
      'update tablet t-1011 port: 21011 → 29998',
      'retire tablet t-1012 rdonly 127.0.0.1:21012 leaves shard 80- (the server is left alone)',
    ])
    expect(ids(p)).toEqual([['update_tablets', 'sequential', ['update_tablets/-80', 'update_tablets/80-']]])
  })

  it('no change', () => {
    const l = guestbook('2-shards.yaml')
    const p = run(l, l)
    expect(p.kind).toBe('noop')
    expect(p.phases).toEqual([])
    expect(p.changes).toEqual([])
  })
})

describe('planner: refusals with a reason', () => {
  it('a keyspace that does not exist', () => {
    expect(refusal(() => plan(undefined, guestbook('2-shards.yaml')))).toMatch(
      /keyspace "test_keyspace" does not exist in the topology\. Bootstrap it .*shardform topo init/,
    )
  })

  it('a layout that does not cover the keyspace', () => {
    const l = makeLayout(['-80', '80-'])
    l.shards = l.shards.slice(0, 1)
    expect(refusal(() => run(makeLayout(['0']), l))).toMatch(
      /do not cover the keyspace exactly: key range 80- is not covered/,
    )
  })

  it('a keyspace with a workflow in progress', () => {
    const st: KeyspaceState = {
      ...stateOf(guestbook('1-shard.yaml')),
      activeWorkflows: [{id: 'wf-1', state: 'running', layoutFile: 'x.yaml', phase: 'clone'}],
    }
    expect(refusal(() => plan(st, guestbook('2-shards.yaml')))).toMatch(
      /has a workflow in progress \(wf-1, running, phase clone.*shardform apply/,
    )
  })

  it('a half-migrated keyspace', () => {
    const st = stateOf(guestbook('1-shard.yaml'))
    st.srvKeyspace.partitions.rdonly = ['-80', '80-']
    expect(refusal(() => plan(st, guestbook('2-shards.yaml')))).toMatch(/serves different shards per tablet type/)
  })

  it('a primary change in a kept shard (a reparent)', () => {
    const from = makeLayout(['0'], {vschema: 'vschema: { sharded: false }'})
    const to = structuredClone(from)
    to.shards[0].tablets[0].type = 'replica'
    to.shards[0].tablets[1].type = 'primary'
    expect(refusal(() => run(from, to))).toMatch(/its primary changes \(t-1000 → t-1001\); that is a reparent/)
  })

  it('a new tablet that takes an alias or an address still registered', () => {
    const from = makeLayout(['0'])
    const to = makeLayout(['-80', '80-'], {base: 5000})
    to.shards[0].tablets[2].alias = 't-1001'
    expect(refusal(() => run(from, to))).toMatch(
      /tablet alias "t-1001" \(shard "-80"\) is registered in shard "0" until that shard is retired/,
    )
    const to2 = makeLayout(['-80', '80-'], {base: 5000})
    to2.shards[1].tablets[0].port = 21000
    expect(refusal(() => run(from, to2))).toMatch(/uses 127\.0\.0\.1:21000, which tablet "t-1000"/)
  })

  it('a layout for another database', () => {
    const to = guestbook('2-shards.yaml')
    to.database = 'other'
    expect(refusal(() => run(guestbook('1-shard.yaml'), to))).toMatch(/cannot rename a database/)
  })
})
