// Stored workflow records of the earlier snake_case shape are read in the current camelCase shape.
import {describe, expect, it} from 'vitest'
import {readWorkflowRecord} from '../../src/engine/record.js'

describe('readWorkflowRecord', () => {
  it('renames the old record, task and run fields, and leaves the plan alone', () => {
    const wf = readWorkflowRecord({
      id: 'w1',
      created_at: 'c',
      created_by: 'me@host',
      updated_at: 'u',
      finished_at: 'f',
      write_id: 'x',
      plan: {format_version: '1', created_at: 'p'},
      tasks: {
        a: {id: 'a', started_at: 's', finished_at: 'e', checkpoint_at: 'k', runs: [{attempt: 1, started_at: 's1'}]},
      },
      events: [],
    })
    expect(wf).toEqual({
      id: 'w1',
      createdAt: 'c',
      createdBy: 'me@host',
      updatedAt: 'u',
      finishedAt: 'f',
      writeId: 'x',
      plan: {format_version: '1', created_at: 'p'},
      tasks: {a: {id: 'a', startedAt: 's', finishedAt: 'e', checkpointAt: 'k', runs: [{attempt: 1, startedAt: 's1'}]}},
      events: [],
    })
  })

  it('keeps a record already in the current shape as it is; a current field wins over an old one', () => {
    const current = {id: 'w2', createdAt: 'c', updatedAt: 'u', tasks: {a: {id: 'a', startedAt: 's'}}}
    expect(readWorkflowRecord(current)).toEqual(current)
    expect(readWorkflowRecord({id: 'w3', createdAt: 'new', created_at: 'old', tasks: {}})).toEqual({
      id: 'w3',
      createdAt: 'new',
      tasks: {},
    })
  })
})
