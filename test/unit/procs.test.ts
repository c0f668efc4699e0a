// The test-process registry (test/helpers/procs.ts): what is registered and still running is stopped; what exited or
// was released is forgotten; a pid now used by another process is left alone.
import {spawn, spawnSync} from 'node:child_process'
import {once} from 'node:events'
import {describe, expect, it} from 'vitest'
import {processAlive} from '../../src/util/process.js'
import {registerCleanup, registerProcess, registered, releaseGroup, stopRegistered} from '../helpers/procs.js'

describe('test process registry', () => {
  it('stops what is still registered: cleanups last-registered first, then processes by SIGKILL', async () => {
    const child = spawn('sleep', ['60'], {stdio: 'ignore'})
    const byPid = spawn('sleep', ['60'], {stdio: 'ignore', detached: true})
    byPid.unref()
    registerProcess('sleep (child)', child)
    registerProcess('sleep (pid)', byPid.pid!)
    const ran: string[] = []
    registerCleanup('first', async () => void ran.push('first'))
    registerCleanup('second', async () => void ran.push('second'))
    const exited = once(child, 'exit')
    expect(await stopRegistered()).toEqual(['sleep (child)', 'sleep (pid)', 'first', 'second'])
    expect(ran).toEqual(['second', 'first'])
    expect((await exited)[1]).toBe('SIGKILL')
    for (let i = 0; i < 100 && processAlive(byPid.pid!); i++) await new Promise((r) => setTimeout(r, 10))
    expect(processAlive(byPid.pid!)).toBe(false)
    expect(registered()).toEqual([])
  })

  it('forgets a child that exited, a released registration and a group', async () => {
    const child = spawn(process.execPath, ['-e', ''], {stdio: 'ignore'})
    registerProcess('short-lived', child)
    await once(child, 'exit')
    const off = registerCleanup('released', async () => expect.fail('a released cleanup ran'))
    off()
    registerCleanup('grouped', async () => expect.fail('a released group ran'), {group: 'g'})
    registerProcess('grouped pid', process.pid, {group: 'g'})
    releaseGroup('g')
    expect(registered()).toEqual([])
    expect(await stopRegistered()).toEqual([])
  })

  it('leaves alone a pid that no process had when it was registered (nothing to tell a reused pid from)', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!
    registerProcess('dead', dead)
    expect(await stopRegistered()).toEqual(['dead'])
  })
})
