// Pure parts of the engine: gate stages and texts, which workflow apply picks, status model and text, exit codes.
import {describe, expect, it} from 'vitest'
import {decideForLayout, decideForPlanFile, decideNoArg} from '../../src/engine/select.js'
import {describeResult, EXIT, gateQuestion} from '../../src/cli/views/session.js'
import {renderStatus} from '../../src/cli/views/status.js'
import {formatProgress} from '../../src/cli/views/format.js'
import {workflowStatus} from '../../src/engine/status.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {
  approve,
  approveCommand,
  gateStages,
  newWorkflowId,
  newWorkflowRecord,
  openGate,
  parseDuration,
  retryCommand,
} from '../../src/engine/workflow.js'
import {planFileContent} from '../../src/plan/planfile.js'
import {plan} from '../../src/plan/planner.js'
import {colors} from '../../src/util/color.js'
import {makePlan} from '../helpers/engine.js'
import {guestbook, stateOf} from '../helpers/state.js'

const plain = colors(false)

function guestbookWorkflow(): WorkflowRecord {
  const p = plan(stateOf(guestbook('1-shard.yaml')), guestbook('2-shards.yaml'), {now: '2026-01-01T00:00:00Z'})
  return newWorkflowRecord(p, {kind: 'layout', file: p.desired.file}, 'root@host')
}

describe('gates', () => {
  it('canary has two stages (one with a single task), phase one, none zero', () => {
    const p = makePlan([
      {name: 'clone', gate: 'canary', tasks: 1},
      {name: 'diff', gate: 'canary', tasks: 3},
      {name: 'migrate_primary', gate: 'phase', tasks: 2},
      {name: 'copy_schema', gate: 'none', tasks: 2},
    ])
    expect(gateStages(p.phases[0]!).map((s) => [s.gate, s.tasks])).toEqual([['clone:first', ['clone/t0']]])
    expect(gateStages(p.phases[1]!).map((s) => [s.gate, s.tasks])).toEqual([
      ['diff:first', ['diff/t0']],
      ['diff:rest', ['diff/t1', 'diff/t2']],
    ])
    expect(gateStages(p.phases[2]!).map((s) => [s.gate, s.tasks])).toEqual([
      ['migrate_primary:all', ['migrate_primary/t0', 'migrate_primary/t1']],
    ])
    expect(gateStages(p.phases[3]!)).toEqual([])
  })

  it('questions and commands are worded as documented', () => {
    const wf = newWorkflowRecord(
      makePlan(
        [
          {name: 'clone', gate: 'canary', tasks: ['0']},
          {name: 'diff', gate: 'canary', tasks: ['-40', '40-80', '80-c0', 'c0-']},
          {name: 'migrate_primary', gate: 'phase', tasks: ['0']},
        ],
        'test_keyspace',
      ),
      {kind: 'layout', file: 'x.yaml'},
      'me',
    )
    const clone = openGate(wf)!
    expect(gateQuestion(clone)).toBe('Approve first task of clone (clone/0)? yes/no')
    expect(approveCommand('test_keyspace', clone)).toBe('shardform approve test_keyspace --phase clone --first')
    for (const t of Object.values(wf.tasks)) if (t.phase === 'clone') t.state = 'done'
    approve(wf, {by: 'me', via: 'approve'})
    wf.tasks['diff/-40']!.state = 'done'
    const rest = openGate(wf)!
    expect(gateQuestion(rest)).toBe('Approve remaining 3 tasks of diff (diff/40-80, …)? yes/no')
    expect(approveCommand('test_keyspace', rest, {topo: 'etcd://h:2379/x'})).toBe(
      'shardform approve test_keyspace --phase diff --rest --topo etcd://h:2379/x',
    )
    for (const t of Object.values(wf.tasks)) if (t.phase === 'diff') t.state = 'done'
    const mp = openGate(wf)!
    expect(gateQuestion(mp)).toBe('Approve phase migrate_primary (1 task)? yes/no')
    expect(approveCommand('test_keyspace', mp)).toBe('shardform approve test_keyspace --phase migrate_primary')
    expect(retryCommand('test_keyspace', 'diff/80-')).toBe('shardform retry test_keyspace diff/80-')
  })

  it('workflow ids and durations', () => {
    expect(newWorkflowId('test_keyspace', new Date('2026-11-26T10:15:00Z'))).toMatch(
      /^test_keyspace-20261126-101500-[0-9a-f]{4}$/,
    )
    expect(parseDuration('0')).toBe(0)
    expect(parseDuration('30')).toBe(30_000)
    expect(parseDuration('30s')).toBe(30_000)
    expect(parseDuration('2m')).toBe(120_000)
    expect(parseDuration('500ms')).toBe(500)
    expect(() => parseDuration('soon', '--lock-timeout')).toThrow(/--lock-timeout "soon" is not a duration/)
  })
})

describe('which workflow apply runs', () => {
  it('a layout resumes the unfinished workflow with the same end state (file name aside), refuses a different one', () => {
    const wf = guestbookWorkflow()
    const same = {...guestbook('2-shards.yaml'), file: 'elsewhere/two.yaml'}
    expect(decideForLayout([wf], same)).toEqual({action: 'resume', workflow: wf})
    expect(decideForLayout([], same)).toEqual({action: 'new'})
    expect(() => decideForLayout([wf], guestbook('4-shards.yaml'))).toThrow(
      /has an unfinished workflow .*asks for a different end state.*Finish that workflow first/,
    )
    // Another keyspace's workflow does not matter.
    expect(decideForLayout([{...wf, keyspace: 'other'}], same)).toEqual({action: 'new'})
  })

  it('a saved plan resumes the workflow made from it (same checksum), refuses while another runs', () => {
    const wf = guestbookWorkflow()
    const saved = planFileContent(wf.plan, stateOf(guestbook('1-shard.yaml')))
    expect(decideForPlanFile([], saved, 'p.plan')).toEqual({action: 'new'})
    // wf came from a layout, not from this plan file: refused while it is unfinished.
    expect(() => decideForPlanFile([wf], saved, 'p.plan')).toThrow(
      /has an unfinished workflow .*p\.plan is a different plan/,
    )
    const fromFile = {...wf, source: {kind: 'plan-file' as const, file: 'p.plan', checksum: saved.checksum}}
    expect(decideForPlanFile([fromFile], saved, 'renamed.plan')).toEqual({action: 'resume', workflow: fromFile})
  })

  it('a saved revert of the unfinished workflow starts (it replaces that one); of another workflow it is refused', () => {
    const wf = guestbookWorkflow()
    const revert = {
      ...wf.plan,
      kind: 'revert' as const,
      revert: {
        workflow: wf.id,
        layout: '1-shard.yaml',
        stage: 'after migrate_primary',
        reason: 'r',
        cancelled: [],
        reversed: ['0'],
      },
    }
    const saved = planFileContent(revert, stateOf(guestbook('2-shards.yaml')))
    expect(decideForPlanFile([wf], saved, 'back.plan')).toEqual({action: 'new'})
    const other = {...wf, id: `${wf.id}-other`}
    expect(() => decideForPlanFile([other], saved, 'back.plan')).toThrow(/back\.plan is a different plan/)
  })

  it('no argument: the only unfinished workflow, or a clear error', () => {
    const a = guestbookWorkflow()
    const b = {...guestbookWorkflow(), id: 'other-ks-1', keyspace: 'other'}
    expect(decideNoArg([a], 'file:x')).toBe(a)
    expect(() => decideNoArg([], 'file:x')).toThrow(/nothing to resume: no unfinished workflow in file:x/)
    expect(() => decideNoArg([a, b], 'file:x')).toThrow(
      /several unfinished workflows in file:x; name one with --workflow ID/,
    )
    expect(decideNoArg([a, b], 'file:x', 'other-ks-1')).toBe(b)
  })
})

describe('status', () => {
  it('shows the open gate with its command and failures with the retry command', () => {
    const wf = guestbookWorkflow()
    for (const id of [
      'apply_vschema',
      'create_shards/-80',
      'create_shards/80-',
      'copy_schema/-80',
      'copy_schema/80-',
      'clone/0',
      'wait_for_filtered_replication/-80',
      'wait_for_filtered_replication/80-',
    ]) {
      wf.tasks[id]!.state = 'done'
    }
    approve(wf, {phase: 'diff', stage: 'first', by: 'me', via: 'approve'})
    wf.tasks['diff/-80'] = {...wf.tasks['diff/-80']!, state: 'done', attempts: 1}
    let st = workflowStatus(wf, undefined)
    expect(st.waiting).toMatchObject({
      gate: 'diff:rest',
      tasks: ['diff/80-'],
      command: 'shardform approve test_keyspace --phase diff --rest',
    })
    expect(st.tasks).toEqual({total: 14, done: 9, running: 0, failed: 0})
    const text = renderStatus([st], plain, 'file:x')
    expect(text).toContain(
      'Waiting for approval: remaining 1 task of diff (diff/80-) — run: shardform approve test_keyspace --phase diff --rest',
    )
    expect(text).toMatch(/✓ apply_vschema +done/)
    expect(text).toMatch(/· migrate_primary +pending/)

    approve(wf, {phase: 'diff', stage: 'rest', by: 'me', via: 'approve'})
    wf.tasks['diff/80-'] = {...wf.tasks['diff/80-']!, state: 'failed', attempts: 2, error: '3 rows differ'}
    wf.state = 'failed'
    st = workflowStatus(wf, undefined)
    expect(st.failures).toEqual([
      {
        task: 'diff/80-',
        phase: 'diff',
        error: '3 rows differ',
        attempts: 2,
        retry_command: 'shardform retry test_keyspace diff/80-',
      },
    ])
    expect(renderStatus([st], plain, 'file:x')).toContain(
      '✗ diff/80-  failed (attempt 2): 3 rows differ — retry: shardform retry test_keyspace diff/80-',
    )
  })

  it('progress figures', () => {
    expect(formatProgress({done: 120000, total: 1000000, unit: 'rows', rate: 98000, etaSeconds: 9})).toBe(
      '120000/1000000 rows, 98000 rows/s, ETA 9s',
    )
    expect(formatProgress({lagSeconds: 0.5, lagEvents: 12})).toBe('lag 0.5s, 12 events behind')
  })
})

describe('replication that pauses with apply', () => {
  const withDone = (wf: WorkflowRecord, ids: string[]) => {
    for (const id of ids) wf.tasks[id] = {...wf.tasks[id]!, state: 'done', attempts: 1}
    return wf
  }
  const upTo = (wf: WorkflowRecord, last: string) => {
    const ids = wf.plan.phases.flatMap((ph) => ph.tasks.map((t) => t.id))
    return withDone(wf, ids.slice(0, ids.indexOf(last) + 1))
  }

  it('says which streams stop when apply waits, fails or is stopped once the clone is done, and none before', () => {
    const before = guestbookWorkflow()
    expect(describeResult({state: 'waiting', wf: before, stage: openGate(before)!}, {}).lines.join('\n')).not.toContain(
      'paused',
    )
    const cloned = upTo(guestbookWorkflow(), 'clone/0')
    const waiting = describeResult({state: 'waiting', wf: cloned, stage: openGate(cloned)!}, {}).lines
    expect(waiting.at(-1)).toBe(
      'Replication 0 → -80, 80- is paused until apply runs again or a shardform server is started: the shards it feeds fall behind meanwhile, and reads they already serve are stale.',
    )
    const stopped = describeResult({state: 'interrupted', wf: cloned, reason: new Error('SIGINT')}, {})
    expect(stopped.err[1]).toContain('Replication 0 → -80, 80- is paused')
    const failed = describeResult({state: 'failed', wf: cloned, failed: []}, {})
    expect(failed.err.at(-1)).toContain('Replication 0 → -80, 80- is paused')
  })

  it('after the primary cutover it is the reverse replication that keeps the old shard current', () => {
    const cut = upTo(guestbookWorkflow(), 'migrate_primary/0')
    expect(describeResult({state: 'waiting', wf: cut, stage: openGate(cut)!}, {}).lines.at(-1)).toContain(
      'Replication -80, 80- → 0 (reverse) is paused',
    )
  })
})

describe('exit codes', () => {
  it('0 done / no changes, 1 failed, 3 waiting, 130 interrupted', () => {
    const wf = guestbookWorkflow()
    expect(describeResult({state: 'done', wf}, {}).code).toBe(EXIT.ok)
    expect(describeResult({state: 'noop', plan: wf.plan}, {}).code).toBe(0)
    const failed = describeResult(
      {state: 'failed', wf, failed: [{...wf.tasks['clone/0']!, state: 'failed', attempts: 1, error: 'boom'}]},
      {},
    )
    expect(failed.code).toBe(1)
    expect(failed.err.join('\n')).toContain('retry it with: shardform retry test_keyspace clone/0')
    const stage = openGate(wf)!
    const waiting = describeResult({state: 'waiting', wf, stage}, {})
    expect(waiting.code).toBe(3)
    expect(waiting.lines.join('\n')).toContain('shardform approve test_keyspace --phase apply_vschema --first')
    const stopped = describeResult({state: 'interrupted', wf, reason: new Error('interrupted (SIGINT)')}, {})
    expect(stopped).toMatchObject({code: 130, err: ['Stopped. Resume with: shardform apply']})
    expect(describeResult({state: 'cancelled', plan: wf.plan}, {})).toMatchObject({code: 1, err: ['Apply cancelled.']})
  })
})
