import {createHash} from 'node:crypto'
import {canonicalJSON} from '../../src/util/canonical.js'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {loadPlanFile, plan, planStaleness, savePlan} from '../../src/plan/index.js'
import {guestbook, stateOf} from '../helpers/state.js'

const dir = mkdtempSync(join(tmpdir(), 'sf-planfile-'))

function saved() {
  const state = stateOf(guestbook('1-shard.yaml'))
  const p = plan(state, guestbook('2-shards.yaml'))
  const file = join(dir, `p-${Math.random().toString(36).slice(2)}.plan`)
  savePlan(file, p, state)
  return {state, p, file}
}

describe('saved plans', () => {
  it('round-trip and are current against the topology they were made from', () => {
    const {state, p, file} = saved()
    const loaded = loadPlanFile(file)
    expect(loaded.plan).toEqual(p)
    expect(planStaleness(loaded, state)).toEqual({stale: false, changes: []})
  })

  it('are stale once the topology changes, and say what changed', () => {
    const {state, file} = saved()
    const after = structuredClone(state)
    after.srvKeyspace.partitions.rdonly = ['-80', '80-']
    after.shards.push({...after.shards[0], name: '-80', keyRange: {start: '', end: '80'}, servedTypes: ['rdonly']})
    after.keyspace.vschema = {sharded: true}
    after.activeWorkflows = [{id: 'wf-9', state: 'running', layoutFile: 'x'}]
    const st = planStaleness(loadPlanFile(file), after)
    expect(st.stale).toBe(true)
    expect(st.changes).toEqual([
      'the vschema changed',
      'shard -80 was added',
      'rdonly traffic moved: 0 → -80, 80-',
      'workflow wf-9 started',
    ])
  })

  it('notice a tablet change', () => {
    const {state, file} = saved()
    const after = structuredClone(state)
    after.tablets[1].port = 1
    expect(planStaleness(loadPlanFile(file), after).changes).toEqual(['tablet test-101 changed'])
  })

  it('refuse a file edited by hand', () => {
    const {file} = saved()
    const data = JSON.parse(readFileSync(file, 'utf8'))
    data.plan.phases[0].gate = 'none'
    writeFileSync(file, JSON.stringify(data))
    expect(() => loadPlanFile(file)).toThrow(/was modified after `shardform plan` saved it \(checksum mismatch\)/)
  })

  it('refuse things that are not plan files', () => {
    const f = join(dir, 'x.plan')
    writeFileSync(f, 'keyspace: x\n')
    expect(() => loadPlanFile(f)).toThrow(/not a shardform plan file \(invalid JSON/)
    writeFileSync(f, '{"a": 1}')
    expect(() => loadPlanFile(f)).toThrow(/not a shardform plan file \(made by `shardform plan --out`\)/)
    expect(() => loadPlanFile(join(dir, 'missing.plan'))).toThrow(/cannot read the plan file: no such file/)
    const {file} = saved()
    const data = JSON.parse(readFileSync(file, 'utf8'))
    data.format_version = '99'
    writeFileSync(f, JSON.stringify(data))
    expect(() => loadPlanFile(f)).toThrow(/plan format version "99" is not supported/)
    // Whatever the file holds there comes out as one short printable token (a line separator once broke the line).
    for (const [v, shown] of [
      ['9\u2028x', '"9\\u2028x"'],
      [{'a\r\n': 1}, '(a object)'],
      [null, 'null'],
    ] as const) {
      writeFileSync(f, JSON.stringify({...data, format_version: v}))
      expect(() => loadPlanFile(f)).toThrow(`plan format version ${shown} is not supported`)
    }
  })
})

describe('forged plans (checksum recomputed by hand)', () => {
  const forge = (edit: (plan: Record<string, any>) => void) => {
    const {file} = saved()
    const data = JSON.parse(readFileSync(file, 'utf8'))
    edit(data.plan)
    data.checksum = createHash('sha256')
      .update(canonicalJSON({plan: data.plan, topology: data.topology}))
      .digest('hex')
    writeFileSync(file, JSON.stringify(data))
    return file
  }
  it.each([
    ['groups is not a list', (p: Record<string, any>) => (p.groups = 5)],
    ['tasks is not a non-empty list', (p: Record<string, any>) => (p.phases[0].tasks = 'x')],
    ['is not a phase shardform knows', (p: Record<string, any>) => (p.phases[1].name = 'drop_everything')],
    ['group is not one of the plan', (p: Record<string, any>) => (p.phases[3].tasks[0].group = 7)],
    ['desired is not', (p: Record<string, any>) => (p.desired.shards[0].name = '8G-')],
    ['appears twice', (p: Record<string, any>) => p.phases[1].tasks.push(p.phases[1].tasks[0])],
  ])('refuses one whose %s', (what, edit) => {
    expect(() => loadPlanFile(forge(edit))).toThrow(
      new RegExp(`not a plan shardform made \\(.*${what}.*nothing was changed`),
    )
  })
  it('accepts an untouched plan (so the refusals above are about the edits)', () => {
    expect(loadPlanFile(forge(() => undefined)).plan.kind).toBe('reshard')
  })
})
