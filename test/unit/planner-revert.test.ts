// Applying the previous layout while a workflow is unfinished: cancel before the primary cutover, reverse after it,
// refuse while sources are being retired, an ordinary reshard once the workflow finished.
import {describe, expect, it} from 'vitest'
import {plan, PlanError, type Plan} from '../../src/plan/index.js'
import {shardRecord} from '../../src/layout/records.js'
import type {KeyspaceState} from '../../src/plan/keyspace-state.js'
import {guestbook, stateOf} from '../helpers/state.js'

const one = guestbook('1-shard.yaml')
const two = guestbook('2-shards.yaml')
const NOW = '2026-01-01T00:00:00.000Z'

/** The state while workflow wf-1 (1 → 2) has done `doneTasks`; traffic as those tasks left it. */
function during(doneTasks: string[], running: string[] = []): KeyspaceState {
  const forward = plan(stateOf(one), two, {now: NOW})
  const st = stateOf(one)
  const tasks: Record<string, {state: string; attempts: number}> = {}
  for (const ph of forward.phases)
    for (const t of ph.tasks)
      tasks[t.id] = {
        state: doneTasks.includes(t.id) ? 'done' : running.includes(t.id) ? 'running' : 'pending',
        attempts: doneTasks.includes(t.id) || running.includes(t.id) ? 1 : 0,
      }
  if (doneTasks.includes('apply_vschema')) st.keyspace = {...st.keyspace, vschema: two.vschema, sharded: true}
  for (const d of two.shards) if (doneTasks.includes(`create_shards/${d.name}`)) st.shards.push(shardRecord(d, []))
  for (const type of ['rdonly', 'replica', 'primary'] as const) {
    if (doneTasks.includes(`migrate_${type}/0`)) st.srvKeyspace.partitions[type] = ['-80', '80-']
  }
  st.activeWorkflows = [{id: 'wf-1', state: 'running', layoutFile: two.file, phase: 'x', plan: forward, tasks}]
  return st
}

const names = (p: Plan) => p.phases.map((ph) => [ph.name, ph.tasks.map((t) => t.id)])
const BEFORE_CLONE = ['apply_vschema', 'create_shards/-80', 'create_shards/80-', 'copy_schema/-80', 'copy_schema/80-']
const BEFORE_PRIMARY = [
  ...BEFORE_CLONE,
  'clone/0',
  'wait_for_filtered_replication/-80',
  'wait_for_filtered_replication/80-',
  'diff/-80',
  'diff/80-',
  'migrate_rdonly/0',
  'migrate_replica/0',
]

describe('revert of an unfinished workflow', () => {
  it('during the clone: cancel (forget streams, drop the new shards, vschema back)', () => {
    const p = plan(during(BEFORE_CLONE, ['clone/0']), one, {now: NOW})
    expect(p.kind).toBe('revert')
    expect(p.revert).toMatchObject({workflow: 'wf-1', cancelled: ['0'], reversed: []})
    expect(p.revert!.stage).toContain('before the primary cutover')
    expect(names(p)).toEqual([
      ['stop_filtered_replication', ['stop_filtered_replication/0']],
      ['delete_shards', ['delete_shards/-80', 'delete_shards/80-']],
      ['apply_vschema', ['apply_vschema']],
    ])
    expect(p.groups).toEqual([{range: '0', sources: ['0'], destinations: ['-80', '80-'], mode: 'cancel'}])
  })

  it('after migrate_replica: cancel moves replica and rdonly traffic back first', () => {
    const p = plan(during(BEFORE_PRIMARY), one, {now: NOW})
    expect(names(p).map(([n]) => n)).toEqual([
      'cancel_migrate_replica',
      'cancel_migrate_rdonly',
      'stop_filtered_replication',
      'delete_shards',
      'apply_vschema',
    ])
    expect(p.changes.filter((c) => c.kind === 'traffic').map((c) => c.detail)).toEqual([
      'replica: -80, 80- → 0 (back)',
      'rdonly: -80, 80- → 0 (back)',
    ])
  })

  it('after migrate_primary, before retire_sources: reverse (diff, traffic back, retire the new shards)', () => {
    const p = plan(during([...BEFORE_PRIMARY, 'migrate_primary/0']), one, {now: NOW})
    expect(p.revert).toMatchObject({cancelled: [], reversed: ['0']})
    expect(p.revert!.stage).toContain('after the primary cutover')
    expect(p.groups).toEqual([{range: '0', sources: ['-80', '80-'], destinations: ['0'], mode: 'reverse'}])
    expect(names(p)).toEqual([
      ['wait_for_filtered_replication', ['wait_for_filtered_replication/0']],
      ['diff', ['diff/0']],
      ['migrate_rdonly', ['migrate_rdonly/0']],
      ['migrate_replica', ['migrate_replica/0']],
      ['migrate_primary', ['migrate_primary/0']],
      ['apply_vschema', ['apply_vschema']],
      ['retire_sources', ['retire_sources/-80', 'retire_sources/80-']],
    ])
    expect(p.current.shards.map((s) => s.name)).toEqual(['-80', '80-'])
  })

  it('a merge reversed after its vschema was stored: the old vschema goes back before any traffic does', () => {
    // wf-1 merges 2 → 1 (sharded → unsharded); it stored the unsharded vschema after its cutover (one shard serves).
    const forward = plan(stateOf(two), one, {now: NOW})
    const st = stateOf(two)
    const tasks: Record<string, {state: string; attempts: number}> = {}
    for (const ph of forward.phases) for (const t of ph.tasks) tasks[t.id] = {state: 'pending', attempts: 0}
    for (const id of Object.keys(tasks).filter((id) => !id.startsWith('retire_sources/')))
      tasks[id] = {state: 'done', attempts: 1}
    st.keyspace = {...st.keyspace, vschema: one.vschema, sharded: false}
    st.shards.push(shardRecord(one.shards[0]!, []))
    for (const type of ['rdonly', 'replica', 'primary'] as const) st.srvKeyspace.partitions[type] = ['0']
    st.activeWorkflows = [{id: 'wf-1', state: 'running', layoutFile: one.file, phase: 'x', plan: forward, tasks}]

    const p = plan(st, two, {now: NOW})
    expect(p.revert).toMatchObject({reversed: ['0']})
    // While one shard serves, any vschema routes to it; once two serve, only the sharded one finds the rows.
    expect(names(p).map(([n]) => n)).toEqual([
      'apply_vschema',
      'wait_for_filtered_replication',
      'diff',
      'migrate_rdonly',
      'migrate_replica',
      'migrate_primary',
      'retire_sources',
    ])
    expect(p.phases[0]!.tasks[0]!.detail).toContain('before any traffic moves back to several shards')
  })

  it('refuses once the sources are being retired, and says what to do', () => {
    expect(() => plan(during([...BEFORE_PRIMARY, 'migrate_primary/0'], ['retire_sources/0']), one)).toThrow(
      /already retiring 0, so it can no longer be reverted\. Let it finish/,
    )
  })

  it('a layout that is neither the target nor the start of the workflow is refused', () => {
    expect(() => plan(during(BEFORE_CLONE), guestbook('4-shards.yaml'))).toThrow(PlanError)
    expect(() => plan(during(BEFORE_CLONE), guestbook('4-shards.yaml'))).toThrow(/has a workflow in progress \(wf-1/)
  })

  it('after the workflow finished: an ordinary reshard back, and the plan says so', () => {
    const after = stateOf(two)
    const forward = plan(stateOf(one), two, {now: NOW})
    after.lastFinished = {id: 'wf-1', state: 'done', layoutFile: two.file, plan: forward, tasks: {}}
    const p = plan(after, one, {now: NOW})
    expect(p.kind).toBe('reshard')
    expect(p.groups).toEqual([{range: '0', sources: ['-80', '80-'], destinations: ['0']}])
    expect(p.notes[0]).toMatch(
      /Workflow wf-1 .* finished and retired its sources, so it cannot be cancelled or reversed in place: going back is this ordinary reshard/,
    )
    expect(p.revert).toMatchObject({workflow: 'wf-1', stage: 'finished: its sources were retired'})
  })
})
