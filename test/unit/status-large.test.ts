// A workflow of hundreds of tasks on a terminal: `status` lists what needs attention and counts the rest (--all lists
// everything), and apply's live area never grows taller than the terminal it is redrawn in.
import {PassThrough} from 'node:stream'
import {describe, expect, it} from 'vitest'
import {TtyApplyView} from '../../src/cli/views/apply.js'
import {renderStatus} from '../../src/cli/views/status.js'
import {workflowStatus} from '../../src/engine/status.js'
import {newWorkflowRecord} from '../../src/engine/workflow.js'
import {colors} from '../../src/util/color.js'
import {makePlan} from '../helpers/engine.js'

const plain = colors(false)

/** A 1 → 300 clone phase: t0..t9 done, t10 failed, t11..t39 running, the rest pending. */
function bigWorkflow() {
  const wf = newWorkflowRecord(makePlan([{name: 'clone', tasks: 300}]), {kind: 'layout', file: 'big.yaml'}, 'me')
  for (let i = 0; i < 40; i++) {
    const t = wf.tasks[`clone/t${i}`]!
    t.attempts = 1
    t.state = i < 10 ? 'done' : i === 10 ? 'failed' : 'running'
    if (i === 10) t.error = 'lost connection'
  }
  return workflowStatus(wf, undefined)
}

describe('status of a phase with hundreds of tasks', () => {
  it('lists the failed task first, then running ones, at most 20 lines, and counts the rest', () => {
    const text = renderStatus([bigWorkflow()], plain, 'file:x')
    const taskLines = text.split('\n').filter((l) => /^ {6}[✓▸?✗·] clone\//.test(l))
    expect(taskLines).toHaveLength(20)
    expect(taskLines.some((l) => /✗ clone\/t10 +failed/.test(l))).toBe(true)
    expect(taskLines.filter((l) => /running/.test(l))).toHaveLength(19)
    expect(text).toContain('… 280 more task(s): 10 done, 10 running, 260 pending (status --all lists every task)')
    expect(text).toContain('✗ clone/t10  failed (attempt 1): lost connection')
  })

  it('--all lists every task', () => {
    const text = renderStatus([bigWorkflow()], plain, 'file:x', true)
    expect(text.split('\n').filter((l) => /^ {6}[✓▸?✗·] clone\//.test(l))).toHaveLength(300)
    expect(text).not.toContain('more task(s)')
  })
})

describe("apply's live area on a terminal", () => {
  it('is never taller than the terminal, however many tasks run', () => {
    const out = Object.assign(new PassThrough(), {isTTY: true, rows: 15, columns: 100}) as unknown as NodeJS.WriteStream
    let written = ''
    ;(out as unknown as PassThrough).on('data', (d: Buffer) => (written += d.toString()))
    const view = new TtyApplyView(out, plain, 0)
    const at = new Date().toISOString()
    for (let i = 0; i < 100; i++)
      view.emit({
        kind: 'event',
        workflow: 'w',
        event: {at, who: 'me', type: 'task_started', task: `clone/t${i}`, message: 'started'},
      })
    // The last redraw: everything after the last "move up and clear" sequence.
    const last = written.split('\u001b[0J').pop()!
    const lines = last.split('\n').filter((l) => l.includes('▸') || l.includes('more running'))
    expect(lines.length).toBeLessThanOrEqual(15 - 6)
    expect(last).toContain('… and 92 more running')
    view.close()
  })
})
