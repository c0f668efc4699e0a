// When a keyspace lock's holder is provably gone (and may be taken over), and the isTopoError helper.
import {spawnSync} from 'node:child_process'
import {hostname} from 'node:os'
import {describe, expect, it} from 'vitest'
import {holderGone, lockRecordOf} from '../../src/topo/lease-lock.js'
import type {LockRecord} from '../../src/topo/records.js'
import {isTopoError, TopoError} from '../../src/topo/store.js'
import {processStartTime} from '../../src/util/process.js'

const base: LockRecord = {id: 'aaaaaaaaaaaa', who: 'me@here pid 1', operation: 'apply', created: '2026-01-01T00:00:00Z'}
const here = {hostname: hostname(), pid: process.pid, pidStart: processStartTime(process.pid)!}
const deadPid = spawnSync(process.execPath, ['-e', '']).pid!

describe('holderGone', () => {
  it('never judges a record without host and pid (written before those fields)', () => {
    expect(holderGone(base)).toBe(false)
  })

  it('judges only holders on this host', () => {
    expect(holderGone({...base, ...here, hostname: 'elsewhere', pid: deadPid})).toBe(false)
  })

  it('a live holder with its own start time is not gone', () => {
    expect(holderGone({...base, ...here})).toBe(false)
    // Without a recorded start time, a live pid is taken to be the holder.
    expect(holderGone({...base, hostname: here.hostname, pid: process.pid})).toBe(false)
  })

  it('a dead pid, or a pid now running another process, is gone', () => {
    expect(holderGone({...base, ...here, pid: deadPid})).toBe(true)
    expect(holderGone({...base, hostname: here.hostname, pid: deadPid})).toBe(true)
    expect(holderGone({...base, ...here, pidStart: `${here.pidStart}0`})).toBe(true)
  })
})

describe('lockRecordOf', () => {
  it('keeps the record and its holder fields, drops what a backend stores beside them', () => {
    const stored = {...base, ...here, expires: 123}
    expect(lockRecordOf(stored)).toEqual({...base, ...here})
    expect(lockRecordOf({...base, expires: 1} as LockRecord)).toEqual(base)
  })
})

describe('isTopoError', () => {
  it('matches TopoErrors by code, nothing else', () => {
    const e = new TopoError('lock_held', 'held')
    expect(isTopoError(e)).toBe(true)
    expect(isTopoError(e, 'lock_held')).toBe(true)
    expect(isTopoError(e, 'conflict')).toBe(false)
    expect(isTopoError(new Error('lock_held'), 'lock_held')).toBe(false)
    expect(isTopoError(undefined)).toBe(false)
  })
})
