import {spawn} from 'node:child_process'
import {once} from 'node:events'
import {describe, expect, it} from 'vitest'
import {processAlive, processArgv, processStartTime} from '../../src/util/process.js'

describe('process liveness', () => {
  it('sees this process, its argv and a stable start time', () => {
    expect(processAlive(process.pid)).toBe(true)
    expect(processArgv(process.pid)[0]).toMatch(/node/)
    expect(processStartTime(process.pid)).toMatch(/^\d+$/)
    expect(processStartTime(process.pid)).toBe(processStartTime(process.pid))
  })

  it('a process that exited is not alive, even while it is a zombie', async () => {
    const child = spawn(process.execPath, ['-e', '0'], {stdio: 'ignore'})
    const pid = child.pid!
    await once(child, 'exit')
    expect(processAlive(pid)).toBe(false)
    expect(processStartTime(pid)).toBeUndefined()
    expect(processArgv(pid)).toEqual([])
  })

  it('rejects pids that cannot be processes', () => {
    for (const pid of [0, -1, 1.5, Number.NaN]) expect(processAlive(pid)).toBe(false)
  })
})
