// Telling a tablet that went away from a bad request, and naming it once in the message.
import {describe, expect, it} from 'vitest'
import {isConnectionLost, tabletError, withoutTabletPrefix} from '../../src/mysql/connect.js'

describe('isConnectionLost', () => {
  it('is true for a refused, reset or lost connection, also once wrapped by tabletError', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'PROTOCOL_CONNECTION_LOST'])
      expect(isConnectionLost(Object.assign(new Error('x'), {code})), code).toBe(true)
    const t = {alias: 'test-100', host: '127.0.0.1', port: 1}
    expect(
      isConnectionLost(tabletError(t, Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'}))),
    ).toBe(true)
  })

  it('is false for errors the server answered with, and for values without a code', () => {
    expect(isConnectionLost(Object.assign(new Error('denied'), {code: 'ER_ACCESS_DENIED_ERROR'}))).toBe(false)
    expect(isConnectionLost(new Error('no code'))).toBe(false)
    expect(isConnectionLost(undefined)).toBe(false)
  })
})

describe('withoutTabletPrefix', () => {
  it('drops the "tablet X (host:port): " or "tablet X: " prefix and a final period', () => {
    expect(withoutTabletPrefix('tablet test-102 (127.0.0.1:41295): read ECONNRESET')).toBe('read ECONNRESET')
    expect(
      withoutTabletPrefix('tablet test-100: binlog stream: Connection lost: The server closed the connection.'),
    ).toBe('binlog stream: Connection lost: The server closed the connection')
    expect(withoutTabletPrefix('read ECONNRESET')).toBe('read ECONNRESET')
  })
})
