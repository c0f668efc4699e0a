// Replication lag from heartbeats (src/phases/streams/lag.ts) and heartbeat rows from binlog images.
import {describe, expect, it} from 'vitest'
import {heartbeatOf} from '../../src/mysql/heartbeat.js'
import {heartbeatLagMs} from '../../src/phases/streams/lag.js'

describe('heartbeatLagMs', () => {
  const last = {writtenMs: 10_000, appliedMs: 10_035.4}

  it('is unknown before any heartbeat was applied', () => {
    expect(heartbeatLagMs(undefined, 20_000, true, 250)).toBeUndefined()
  })

  it('caught up: the lag measured when the last heartbeat was applied, in whole ms, however old it is', () => {
    expect(heartbeatLagMs(last, 10_100, true, 250)).toBe(35)
    // The source was frozen (no heartbeats) and nothing is pending: the figure does not grow.
    expect(heartbeatLagMs(last, 60_000, true, 250)).toBe(35)
  })

  it('behind: grows with the time since the next heartbeat was due, never below the measured lag', () => {
    expect(heartbeatLagMs(last, 10_200, false, 250)).toBe(35)
    expect(heartbeatLagMs(last, 11_250, false, 250)).toBe(1000)
    expect(heartbeatLagMs(last, 15_250, false, 250)).toBe(5000)
  })

  it('a clock step backwards between writing and applying is not a negative lag', () => {
    expect(heartbeatLagMs({writtenMs: 10_000, appliedMs: 9_990}, 10_000, true, 250)).toBe(0)
  })
})

describe('heartbeatOf', () => {
  it('reads a heartbeat row image (strings or buffers, bigint as string)', () => {
    expect(heartbeatOf({shard: '-80', writer: Buffer.from('h:1:ab'), ts_us: '1764800000123456'})).toEqual({
      shard: '-80',
      writer: 'h:1:ab',
      tsUs: 1764800000123456,
    })
  })

  it('is undefined for anything else', () => {
    expect(heartbeatOf(undefined)).toBeUndefined()
    expect(heartbeatOf({shard: '0', writer: 'w'})).toBeUndefined()
    expect(heartbeatOf({page: 1, message: 'x'})).toBeUndefined()
  })
})
