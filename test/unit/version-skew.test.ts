// Versions in the workflow record and among servers: the stamp every write carries, the refusal of a record written
// in a newer format (naming the version to upgrade to), older and unstamped records read as before, and the one line
// `server list` prints when live servers run different versions.
import {describe, expect, it} from 'vitest'
import {isErrorCode} from '../../src/errors.js'
import {
  assertRecordReadable,
  newerRecordReason,
  RECORD_FORMAT,
  RECORD_TOO_NEW,
  stampRecord,
} from '../../src/engine/record-format.js'
import {readWorkflowEntry} from '../../src/engine/record.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {unreadableReason} from '../../src/server/readable.js'
import {versionSkew} from '../../src/server/version-skew.js'
import {compareVersions, SHARDFORM_VERSION} from '../../src/util/version.js'

const wf = {
  id: 'ks-1',
  keyspace: 'ks',
  state: 'waiting',
  plan: {format_version: '1', phases: []},
  tasks: {},
  events: [],
  approvals: [],
} as unknown as WorkflowRecord

describe('compareVersions', () => {
  it('compares dotted numbers numerically; a pre-release sorts before its release', () => {
    expect(compareVersions('0.10.0', '0.9.3')).toBe(1)
    expect(compareVersions('1.2', '1.2.0')).toBe(0)
    expect(compareVersions('0.1.0', '0.2.0')).toBe(-1)
    expect(compareVersions('1.0.0-rc.1', '1.0.0')).toBe(-1)
    expect(compareVersions('v2.0.0', '1.9.9')).toBe(1)
  })
})

describe('the record stamp', () => {
  it('a write stamps the format and this version', () => {
    const r = structuredClone(wf)
    stampRecord(r, '0.3.1')
    expect(r).toMatchObject({formatVersion: RECORD_FORMAT, writtenBy: '0.3.1'})
    stampRecord(r)
    expect(r).toMatchObject({writtenBy: SHARDFORM_VERSION})
  })

  it('older, current and unstamped records are read', () => {
    expect(newerRecordReason(wf)).toBeUndefined()
    expect(newerRecordReason({...wf, formatVersion: RECORD_FORMAT, writtenBy: '0.0.1'})).toBeUndefined()
    expect(newerRecordReason({...wf, formatVersion: 1, writtenBy: '9.0.0'}, {reads: 2})).toBeUndefined()
    expect(unreadableReason({...wf, formatVersion: RECORD_FORMAT, writtenBy: '0.0.1'})).toBeUndefined()
  })

  it('a newer format is refused, naming the version that wrote it and what to upgrade to', () => {
    const newer = {...wf, formatVersion: RECORD_FORMAT + 1, writtenBy: '9.1.0'}
    expect(newerRecordReason(newer, {version: '0.1.0'})).toBe(
      `it was written by shardform 9.1.0 in record format ${RECORD_FORMAT + 1}, and this shardform 0.1.0 reads ` +
        `formats up to ${RECORD_FORMAT}: upgrade to shardform ≥ 9.1.0`,
    )
    expect(unreadableReason(newer, '0.1.0')).toMatch(
      /this server \(shardform 0\.1\.0\).*upgrade this server to shardform ≥ 9\.1\.0$/,
    )
    // No version recorded, or one not newer than ours: say which format is needed instead.
    expect(newerRecordReason({...wf, formatVersion: 7}, {version: '0.1.0'})).toMatch(
      /written by a newer shardform in record format 7.*reads record format 7$/,
    )
    expect(newerRecordReason({...wf, formatVersion: 'x'})).toMatch(/record format "x" is not one shardform writes/)
  })

  it('the writer path refuses a newer record (RECORD_TOO_NEW, with a hint); other readers are unaffected', () => {
    const newer = {...wf, formatVersion: RECORD_FORMAT + 1, writtenBy: '9.1.0'}
    let err: unknown
    try {
      assertRecordReadable('workflows/ks-1/Workflow', newer)
    } catch (e) {
      err = e
    }
    expect(isErrorCode(err, RECORD_TOO_NEW)).toBe(true)
    expect((err as Error).message).toMatch(
      /workflows\/ks-1\/Workflow is left alone: .*≥ 9\.1\.0\.\nRun this command with shardform 9\.1\.0 or later/,
    )
    expect(() => readWorkflowEntry({path: 'workflows/ks-1/Workflow', value: newer, version: '1'})).toThrow(/left alone/)
    expect(readWorkflowEntry({path: 'p', value: wf, version: '1'})?.value.id).toBe('ks-1')
  })
})

describe('version skew among servers', () => {
  it('says nothing while every server runs one version', () => {
    expect(versionSkew([])).toBeUndefined()
    expect(
      versionSkew([
        {id: 'a', version: '0.1.0'},
        {id: 'b', version: '0.1.0'},
      ]),
    ).toBeUndefined()
  })
  it('one line naming the versions, who runs them, and whom to upgrade', () => {
    const line = versionSkew([
      {id: 'a', version: '0.10.0'},
      {id: 'b', version: '0.9.0'},
      {id: 'c', version: '0.10.0'},
    ])
    expect(line).toBe(
      'Servers run different shardform versions: 0.9.0 (b), 0.10.0 (a, c); a workflow written in a newer record ' +
        'format is left to the servers that read it: upgrade b to 0.10.0.',
    )
    expect(line).not.toContain('\n')
  })
})
