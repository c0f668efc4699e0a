// A topology written before the workflow record moved to camelCase (test/fixtures/topo-main-v0: one finished workflow,
// one waiting at a gate) keeps working: status and history read it with unchanged JSON names, and the waiting workflow
// is approved and resumed to the end, after which its record is stored in the current shape.
import {cp, mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {readWorkflowRecord} from '../../src/engine/record.js'
import {workflowStatus} from '../../src/engine/status.js'
import {assertBuilt, cliEnv, KS, ROOT, runCli} from '../helpers/engine-cli.js'

const FIXTURE = join(ROOT, 'test/fixtures/topo-main-v0')
const WAITING = 'test_keyspace-20261204-093301-749a'
const FINISHED = 'test_keyspace-20261204-093257-4755'
let dir: string

beforeAll(async () => {
  assertBuilt()
  dir = await mkdtemp(join(tmpdir(), 'shardform-topo-v0-'))
  await cp(FIXTURE, dir, {recursive: true})
})

afterAll(async () => {
  await rm(dir, {recursive: true, force: true})
})

const stored = async (id: string) =>
  JSON.parse(await readFile(join(dir, 'workflows', id, 'Workflow.json'), 'utf8')) as Record<string, any>

describe('a topology written by shardform before camelCase records', () => {
  it('status, history, approve and resume work on it', async () => {
    const env = cliEnv(`file:${dir}`)
    expect(await stored(WAITING)).toHaveProperty('created_at') // the fixture is the old shape

    const status = await runCli(['status', '--json'], env)
    expect(status.code).toBe(0)
    const doc = JSON.parse(status.stdout)
    const byId = Object.fromEntries(doc.workflows.map((w: any) => [w.id, w]))
    expect(byId[WAITING]).toMatchObject({
      state: 'waiting',
      created_by: 'root@vm',
      created_at: '2026-12-04T09:33:01.987Z',
    })
    expect(byId[WAITING].waiting.command).toContain('approve test_keyspace --phase apply_vschema --first')
    // status shows the last finished workflow only while nothing newer exists: read that one's status directly.
    const old = workflowStatus(readWorkflowRecord(await stored(FINISHED)), undefined)
    expect(old).toMatchObject({state: 'done', finished: true, created_by: 'root@vm'})
    expect(old.finished_at).toBeTruthy()
    const done = old.phases.flatMap((p) => p.tasks)
    expect(done.every((t) => t.state === 'done' && t.started_at && t.finished_at)).toBe(true)

    const text = await runCli(['status', KS], env)
    expect(text.stdout).toMatch(
      new RegExp(`Workflow ${WAITING}  waiting  \\(applying plans/guestbook/2-shards.yaml, started .* by root@vm\\)`),
    )

    const history = await runCli(['history', KS, '--json'], env)
    expect(history.code).toBe(0)
    const events = JSON.parse(history.stdout).events
    expect(events.filter((e: any) => e.workflow === FINISHED).at(-1)).toMatchObject({type: 'done'})
    expect(events.filter((e: any) => e.workflow === WAITING).at(-1)).toMatchObject({type: 'waiting'})

    const approve = await runCli(['approve', KS, '--phase', 'apply_vschema', '--first'], env)
    expect(approve.stderr).toBe('')
    expect(approve.code).toBe(0)
    const resumed = await runCli(['apply', '--auto-approve'], env)
    expect(resumed.stderr).toBe('')
    expect(resumed.code).toBe(0)
    expect(resumed.stdout).toContain(`Resuming workflow ${WAITING}`)
    expect(resumed.stdout).toContain(`Apply complete! Workflow ${WAITING} done: 14 tasks in 10 phases.`)

    const after = await stored(WAITING)
    expect(after).toMatchObject({state: 'done', createdAt: '2026-12-04T09:33:01.987Z', createdBy: 'root@vm'})
    expect(after).not.toHaveProperty('created_at')
    expect(after.plan.created_at).toBeTruthy() // the plan contract keeps its names
    expect(after.approvals[0]).toMatchObject({gate: 'apply_vschema:first', via: 'approve'})
    expect(after.tasks['apply_vschema'].runs[0]).toHaveProperty('startedAt')
    expect(after.tasks['apply_vschema']).not.toHaveProperty('started_at')
    // The finished workflow was only read, never rewritten.
    expect(await stored(FINISHED)).toEqual(
      JSON.parse(await readFile(join(FIXTURE, 'workflows', FINISHED, 'Workflow.json'), 'utf8')),
    )
  })
})
