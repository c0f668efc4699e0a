// One contract for every topology backend, run against the file store and a real etcd; then what only one has.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile, mkdir} from 'node:fs/promises'
import {hostname, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {pathToFileURL} from 'node:url'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'
import {FileTopoStore} from '../../src/topo/file.js'
import {exportSnapshot, openTopo, writeSnapshot} from '../../src/topo/open.js'
import {keyspacePath, lockPath, shardPath} from '../../src/topo/paths.js'
import type {LockRecord} from '../../src/topo/records.js'
import {TopoError, type Entry, type TopoStore, type WatchEvent} from '../../src/topo/store.js'
import {processStartTime} from '../../src/util/process.js'
import {startEtcd, type TestEtcd} from '../helpers/etcd.js'
import {registerProcess} from '../helpers/procs.js'

const SRC = resolve(import.meta.dirname, '../../src/topo')
let scratch: string
let childScript: string

// A second process, as a real user would run one: takes a lock and hangs, counts with CAS, or dies mid-commit.
const CHILD = `
import {openTopo} from ${JSON.stringify(pathToFileURL(join(SRC, 'open.ts')).href)}
import {FileTopoStore} from ${JSON.stringify(pathToFileURL(join(SRC, 'file.ts')).href)}
import {createInterface} from 'node:readline'
const [cmd, url, ...rest] = process.argv.slice(2)
if (cmd === 'lock') {
  const store = await openTopo(url)
  const h = await store.lock(rest[0], {operation: 'crash test', timeoutMs: 0, ttlSeconds: Number(rest[1])})
  console.log(JSON.stringify(h.record))
  setInterval(() => {}, 60_000)
} else if (cmd === 'hold') {
  const store = await openTopo(url)
  const h = await store.hold(rest[0], {operation: 'crash test', ttlSeconds: Number(rest[1]), data: {role: 'child'}})
  console.log(JSON.stringify(h.record))
  setInterval(() => {}, 60_000)
} else if (cmd === 'count') {
  const [path, times] = rest
  const store = await openTopo(url)
  console.log('ready')
  const rl = createInterface({input: process.stdin})
  await new Promise((ok) => rl.once('line', ok))
  rl.close()
  let conflicts = 0
  const t0 = Date.now()
  for (let i = 0; i < Number(times); i++) {
    for (;;) {
      const e = await store.get(path)
      try {
        await store.update(path, {n: e.value.n + 1}, e.version)
        break
      } catch (err) {
        if (err.code !== 'conflict') throw err
        conflicts++
      }
    }
  }
  console.log(JSON.stringify({conflicts, ms: Date.now() - t0}))
  await store.close()
} else if (cmd === 'crash-commit') {
  const store = await FileTopoStore.open(url, {
    onCommitStep: (step, i) => { if (step === 'applied' && i === 0) process.kill(process.pid, 'SIGKILL') },
  })
  await store.commit(JSON.parse(rest[0]))
  console.log('survived')
}
`

function child(args: string[]): ChildProcess {
  const p = spawn(process.execPath, ['--import', 'tsx', childScript, ...args], {
    cwd: resolve(import.meta.dirname, '../..'),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  registerProcess(`topo child ${args[0]}`, p)
  return p
}

/** Resolve with the first stdout line of `p` (rejecting with its stderr if it exits first). */
function firstLine(p: ChildProcess): Promise<string> {
  return new Promise((ok, fail) => {
    let out = ''
    let err = ''
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (nl >= 0) ok(out.slice(0, nl))
    })
    p.once('exit', (code, sig) => fail(new Error(`child exited (${code ?? sig}) before printing: ${err.trim()}`)))
  })
}

function exited(
  p: ChildProcess,
): Promise<{code: number | null; signal: string | null; stdout: string; stderr: string}> {
  let stdout = ''
  let stderr = ''
  p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((ok) => p.once('exit', (code, signal) => ok({code, signal, stdout, stderr})))
}

async function killed(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  const gone = new Promise((ok) => p.once('exit', ok))
  p.kill('SIGKILL')
  await gone
}

async function rejection(p: Promise<unknown>): Promise<TopoError> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(TopoError)
    return e as TopoError
  }
  throw new Error('expected a rejection')
}

/** Wait until `cond()` holds, or fail after `ms`. */
async function until(cond: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'shardform-topo-'))
  childScript = join(scratch, 'child.mts')
  await writeFile(childScript, CHILD)
})

afterAll(async () => {
  await rm(scratch, {recursive: true, force: true})
})

interface Harness {
  /** URL of a fresh, empty topology. */
  freshUrl(): string
  /** Open with test-friendly options (e.g. fast polling). */
  open(url: string): Promise<TopoStore>
}

function topoContract(name: string, setup: () => Promise<Harness>, teardown: () => Promise<void>) {
  describe(`topology contract: ${name}`, () => {
    let h: Harness
    let url: string
    let store: TopoStore
    const opened: TopoStore[] = []
    const open = async (u = url) => {
      const s = await h.open(u)
      opened.push(s)
      return s
    }

    beforeAll(async () => {
      h = await setup()
    })
    afterAll(teardown)
    beforeEach(async () => {
      url = h.freshUrl()
      store = await open()
    })
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()))
    })

    it('creates, reads, lists and refuses to create twice', async () => {
      expect(await store.get(keyspacePath('ks'))).toBeUndefined()
      const v = await store.create(keyspacePath('ks'), {name: 'ks', sharded: true})
      expect(typeof v).toBe('string')
      expect(await store.get(keyspacePath('ks'))).toEqual({
        path: keyspacePath('ks'),
        value: {name: 'ks', sharded: true},
        version: v,
      })
      await store.create(shardPath('ks', '80-'), {name: '80-'})
      await store.create(shardPath('ks', '-80'), {name: '-80'})
      await store.create(shardPath('ks2', '0'), {name: '0'})
      await store.create('tablets/t-1/Tablet', {alias: 't-1'})

      const err = await rejection(store.create(keyspacePath('ks'), {name: 'again'}))
      expect(err.code).toBe('exists')
      expect((await store.get(keyspacePath('ks')))?.value).toEqual({name: 'ks', sharded: true})

      expect((await store.list('keyspaces/ks/')).map((e) => e.path)).toEqual([
        'keyspaces/ks/Keyspace',
        'keyspaces/ks/shards/-80/Shard',
        'keyspaces/ks/shards/80-/Shard',
      ])
      // Plain string prefixes: `keyspaces/ks` also matches ks2.
      expect((await store.list('keyspaces/ks')).map((e) => e.path)).toContain('keyspaces/ks2/shards/0/Shard')
      expect((await store.list('')).map((e) => e.path)).toEqual([
        'keyspaces/ks/Keyspace',
        'keyspaces/ks/shards/-80/Shard',
        'keyspaces/ks/shards/80-/Shard',
        'keyspaces/ks2/shards/0/Shard',
        'tablets/t-1/Tablet',
      ])
      expect(await store.list('workflows/')).toEqual([])
    })

    it('a listing given the previous one returns unchanged entries as they were and decodes changed ones', async () => {
      await store.create('w/a/Workflow', {n: 1})
      const vb = await store.create('w/b/Workflow', {n: 1})
      const first = await store.list<{n: number}>('w/')
      const reuse = new Map(first.map((e) => [e.path, e as Entry<unknown>]))
      await store.update('w/b/Workflow', {n: 2}, vb)
      await store.create('w/c/Workflow', {n: 1})
      const second = await store.list<{n: number}>('w/', {reuse})
      expect(second.map((e) => [e.path, e.value.n])).toEqual([
        ['w/a/Workflow', 1],
        ['w/b/Workflow', 2],
        ['w/c/Workflow', 1],
      ])
      expect(second[0]).toBe(first[0])
      expect(second[1]).not.toBe(first[1])
      // Without it, every value is decoded afresh (a caller free to change what it got).
      expect((await store.list('w/'))[0]!.value).not.toBe(first[0]!.value)
    })

    it('refuses paths that cannot name a record', async () => {
      for (const bad of ['', '/abs', 'a//b', '../x', 'a/./b', 'keyspaces/.hidden']) {
        expect((await rejection(store.create(bad, {}))).code).toBe('invalid')
      }
    })

    it('updates with compare-and-swap and rejects a stale version', async () => {
      const v1 = await store.create(keyspacePath('ks'), {n: 1})
      const v2 = await store.update(keyspacePath('ks'), {n: 2}, v1)
      expect(v2).not.toBe(v1)
      expect(await store.get(keyspacePath('ks'))).toMatchObject({value: {n: 2}, version: v2})

      const stale = await rejection(store.update(keyspacePath('ks'), {n: 3}, v1))
      expect(stale.code).toBe('conflict')
      expect(stale.message).toContain(keyspacePath('ks'))
      expect((await store.get(keyspacePath('ks')))?.value).toEqual({n: 2})

      expect((await rejection(store.update(keyspacePath('nope'), {n: 1}, v2))).code).toBe('not_found')
      // A version from some other backend or a typo is just another stale version.
      expect((await rejection(store.update(keyspacePath('ks'), {n: 3}, 'garbage'))).code).toBe('conflict')
    })

    it('deletes, with and without a version', async () => {
      const v1 = await store.create('a/X', {n: 1})
      const v2 = await store.update('a/X', {n: 2}, v1)
      expect((await rejection(store.delete('a/X', v1))).code).toBe('conflict')
      expect(await store.get('a/X')).toBeDefined()
      await store.delete('a/X', v2)
      expect(await store.get('a/X')).toBeUndefined()
      expect((await rejection(store.delete('a/X'))).code).toBe('not_found')
      await store.create('a/Y', {n: 1})
      await store.delete('a/Y')
      expect(await store.list('a/')).toEqual([])
    })

    it('commits all writes at once, or none when one expectation fails', async () => {
      const va = await store.create('c/A', {n: 1})
      const vb = await store.create('c/B', {n: 1})
      await store.commit([
        {op: 'put', path: 'c/A', value: {n: 2}, version: va},
        {op: 'delete', path: 'c/B', version: vb},
        {op: 'put', path: 'c/C', value: {n: 1}, version: null},
        {op: 'put', path: 'c/D', value: {n: 1}},
      ])
      const after = await store.list('c/')
      expect(after.map((e) => [e.path, e.value])).toEqual([
        ['c/A', {n: 2}],
        ['c/C', {n: 1}],
        ['c/D', {n: 1}],
      ])

      // One stale version among good ones: nothing may be written.
      const vc = after.find((e) => e.path === 'c/C')!.version
      const err = await rejection(
        store.commit([
          {op: 'put', path: 'c/C', value: {n: 99}, version: vc},
          {op: 'put', path: 'c/E', value: {n: 99}},
          {op: 'delete', path: 'c/D'},
          {op: 'put', path: 'c/A', value: {n: 99}, version: va},
        ]),
      )
      expect(err.code).toBe('conflict')
      expect(err.message).toContain('c/A')
      expect((await store.list('c/')).map((e) => [e.path, e.value])).toEqual([
        ['c/A', {n: 2}],
        ['c/C', {n: 1}],
        ['c/D', {n: 1}],
      ])

      // "must not exist" is an expectation too.
      expect((await rejection(store.commit([{op: 'put', path: 'c/A', value: {}, version: null}]))).code).toBe(
        'conflict',
      )
      expect(
        (
          await rejection(
            store.commit([
              {op: 'put', path: 'c/A', value: 1},
              {op: 'delete', path: 'c/A'},
            ]),
          )
        ).code,
      ).toBe('invalid')
    })

    it('watches puts and deletes under a prefix, and nothing outside it', async () => {
      await store.create('keyspaces/ks/Before', {n: 0})
      const events: WatchEvent<{n: number}>[] = []
      const stop = await store.watch<{n: number}>('keyspaces/ks/', (ev) => events.push(ev))
      const seen = (type: string, path: string) =>
        events.some((e) => e.type === type && (e.type === 'put' ? e.entry.path : e.path) === path)

      await store.create('keyspaces/ks2/Outside', {n: 1})
      await store.create('tablets/t/Tablet', {n: 1})
      const v = await store.create('keyspaces/ks/shards/0/Shard', {n: 1})
      await until(() => seen('put', 'keyspaces/ks/shards/0/Shard'), 5_000, 'the put')
      const put = events.find((e) => e.type === 'put')!
      expect(put).toEqual({type: 'put', entry: {path: 'keyspaces/ks/shards/0/Shard', value: {n: 1}, version: v}})

      // A second store (another connection) writes; this one hears it.
      const other = await open()
      await other.delete('keyspaces/ks/Before')
      await until(() => seen('delete', 'keyspaces/ks/Before'), 5_000, 'the delete')

      await store.commit([{op: 'put', path: 'keyspaces/ks/shards/0/Shard', value: {n: 2}, version: v}])
      await until(() => events.some((e) => e.type === 'put' && e.entry.value.n === 2), 5_000, 'the update')

      stop()
      const count = events.length
      await store.create('keyspaces/ks/After', {n: 3})
      await sleep(300)
      expect(events.length).toBe(count)
      const paths = events.map((e) => (e.type === 'put' ? e.entry.path : e.path))
      expect(paths.every((p) => p.startsWith('keyspaces/ks/'))).toBe(true)
      expect(paths).not.toContain('keyspaces/ks2/Outside')
    })

    it('two store instances see each other and race with CAS', async () => {
      const a = store
      const b = await open()
      const v1 = await a.create(workflowPathOf('w1'), {state: 'new'})
      expect(await b.get(workflowPathOf('w1'))).toEqual({
        path: workflowPathOf('w1'),
        value: {state: 'new'},
        version: v1,
      })
      const v2 = await b.update(workflowPathOf('w1'), {state: 'running'}, v1)
      expect(await a.get(workflowPathOf('w1'))).toMatchObject({value: {state: 'running'}, version: v2})
      expect((await rejection(a.update(workflowPathOf('w1'), {state: 'lost'}, v1))).code).toBe('conflict')
    })

    it('a second locker with no timeout fails, naming the holder', async () => {
      const held = await store.lock('ks', {operation: 'apply 2-shards.yaml', timeoutMs: 0})
      expect(held.record.id).toMatch(/^[0-9a-f]{12}$/)
      expect(held.record.who).toMatch(/^.+@.+ pid \d+$/)
      expect(await store.readLock('ks')).toEqual(held.record)

      const other = await open()
      // The holder never lets go here: a locker that waited for it would never return.
      const err = await rejection(other.lock('ks', {operation: 'apply 4-shards.yaml', timeoutMs: 0}))
      expect(err.code).toBe('lock_held')
      // No timeout: it gave up on the first look, so it reports no wait.
      expect(err.message).not.toMatch(/gave up after/)
      expect(err.message).toContain(held.record.id)
      expect(err.message).toContain('apply 2-shards.yaml')
      expect(err.message).toContain(held.record.who)
      expect(err.message).toContain(`shardform force-unlock ks ${held.record.id}`)

      // Other keyspaces are not affected.
      const elsewhere = await other.lock('ks2', {operation: 'x', timeoutMs: 0})
      await elsewhere.release()

      // With a timeout it waits that long (as it says, by its own clock), then fails the same way.
      const late = await rejection(other.lock('ks', {operation: 'y', timeoutMs: 400}))
      expect(late.code).toBe('lock_held')
      const waited = /^gave up after (\d+\.\d) s: /.exec(late.message)
      expect(waited, late.message).not.toBeNull()
      expect(Number(waited![1])).toBeGreaterThanOrEqual(0.4)
      expect(late.message).toContain(held.record.id)

      await held.check()
      await held.release()
      expect(await store.readLock('ks')).toBeUndefined()
    })

    it('a waiter gets the lock as soon as the holder releases it', async () => {
      const first = await store.lock('ks', {operation: 'first', timeoutMs: 0})
      const other = await open()
      // Order of what happened: the waiter must get the lock only after the release. Its timeout is longer than the
      // test's, so only noticing the release (a watch, a poll) can hand it the lock before the test gives up.
      const order: string[] = []
      const waiting = other.lock('ks', {operation: 'second', timeoutMs: 600_000}).then((h) => {
        order.push('acquired')
        return h
      })
      waiting.catch(() => undefined)
      // Time for its first look (if it came later, it would find the lock free: the order below still holds).
      await sleep(300)
      expect(order).toEqual([])
      order.push('released')
      await first.release()
      const second = await waiting
      expect(order).toEqual(['released', 'acquired'])
      expect(second.record.id).not.toBe(first.record.id)
      expect((await store.readLock('ks'))?.id).toBe(second.record.id)
      await expect(first.check()).rejects.toMatchObject({code: 'lock_lost'})
      await second.release()
    })

    it('takes over at once the lock of a holder killed with SIGKILL, saying whose it was', async () => {
      // The default 15 s lease: only the dead pid lets the next locker in without waiting.
      const p = child(['lock', url, 'ks', '15'])
      let crashed: LockRecord
      try {
        crashed = JSON.parse(await firstLine(p)) as LockRecord
        expect((await store.readLock('ks'))?.id).toBe(crashed.id)
        expect(crashed).toMatchObject({hostname: hostname(), pid: p.pid, pidStart: processStartTime(p.pid!)})
      } finally {
        await killed(p)
      }
      const mine = await store.lock('ks', {operation: 'after the crash', timeoutMs: 0})
      expect(mine.record.id).not.toBe(crashed.id)
      expect(mine.tookOver).toEqual(crashed)
      expect(await store.readLock('ks')).toEqual(mine.record)
      await mine.check()
      await mine.release()
    })

    it('holds a record at any path under a lease: a second holder is refused naming the first, a dead one is replaced', async () => {
      const h = await store.hold('servers/s1/Server', {operation: 'server s1', data: {serverId: 's1', version: '9'}})
      const stored = (await store.get<Record<string, unknown>>('servers/s1/Server'))!.value
      expect(stored).toMatchObject({serverId: 's1', version: '9', id: h.record.id, pid: process.pid})
      const other = await open()
      const err = await rejection(other.hold('servers/s1/Server', {operation: 'server s1 again'}))
      expect(err.code).toBe('lock_held')
      expect(err.message).toContain(`servers/s1/Server is held by ${h.record.who}`)
      expect(err.message).toContain(`pid ${process.pid}`)
      await h.release()
      expect(await store.get('servers/s1/Server')).toBeUndefined()
      await expect(h.check()).rejects.toMatchObject({code: 'lock_lost'})

      const p = child(['hold', url, 'servers/s2/Server', '15'])
      let dead: LockRecord
      try {
        dead = JSON.parse(await firstLine(p)) as LockRecord
        expect((await rejection(other.hold('servers/s2/Server', {operation: 'x'}))).code).toBe('lock_held')
      } finally {
        await killed(p)
      }
      const mine = await other.hold('servers/s2/Server', {operation: 'after the crash'})
      expect(mine.tookOver?.id).toBe(dead.id)
      await mine.release()
    })

    it('does not take over the lock of a live process', async () => {
      const p = child(['lock', url, 'ks', '15'])
      try {
        const holder = JSON.parse(await firstLine(p)) as LockRecord
        const err = await rejection(store.lock('ks', {operation: 'too early', timeoutMs: 0}))
        expect(err.code).toBe('lock_held')
        expect(err.message).toContain(holder.id)
        expect(await store.readLock('ks')).toEqual(holder)
      } finally {
        await killed(p)
      }
    })

    it('takes over a lock whose pid now belongs to another process, and only one of two takers wins', async () => {
      const base = {
        id: 'aaaaaaaaaaaa',
        who: 'x@y pid 1',
        operation: 'old',
        created: new Date(0).toISOString(),
        // The file backend's expiry, far off: only the holder's identity may let a taker in.
        expires: Date.now() + 600_000,
      }
      // Written before the holder fields existed: kept (nothing proves its holder gone).
      await store.create(lockPath('ks'), base)
      expect((await store.readLock('ks'))?.id).toBe(base.id)
      expect((await rejection(store.lock('ks', {operation: 'new', timeoutMs: 0}))).code).toBe('lock_held')
      // This very process, with its real start time: alive, kept.
      const live = {...base, hostname: hostname(), pid: process.pid, pidStart: processStartTime(process.pid)}
      let cur = await store.get(lockPath('ks'))
      await store.update(lockPath('ks'), live, cur!.version)
      expect((await rejection(store.lock('ks', {operation: 'new', timeoutMs: 0}))).code).toBe('lock_held')
      // The same pid started at another time: a reused pid, the holder is gone.
      cur = await store.get(lockPath('ks'))
      await store.update(lockPath('ks'), {...live, pidStart: `${live.pidStart}0`}, cur!.version)
      const other = await open()
      const tries = await Promise.allSettled([
        store.lock('ks', {operation: 'taker 1', timeoutMs: 0}),
        other.lock('ks', {operation: 'taker 2', timeoutMs: 0}),
      ])
      const won = tries.filter((t) => t.status === 'fulfilled').map((t) => t.value)
      const lost = tries.filter((t) => t.status === 'rejected').map((t) => t.reason as TopoError)
      expect(won).toHaveLength(1)
      expect(lost.map((e) => e.code)).toEqual(['lock_held'])
      expect(won[0]!.tookOver?.id).toBe(base.id)
      expect(await store.readLock('ks')).toEqual(won[0]!.record)
      await won[0]!.release()
    })

    it('force-unlock refuses a wrong id, works with the right one, and the holder learns it lost the lock', async () => {
      const held = await store.lock('ks', {operation: 'long job', timeoutMs: 0, ttlSeconds: 1.5})
      let lostErr: unknown
      held.lost.catch((e: unknown) => (lostErr = e))
      const admin = await open()

      const wrong = await rejection(admin.forceUnlock('ks', 'deadbeef0000'))
      expect(wrong.code).toBe('conflict')
      expect(wrong.message).toContain(held.record.id)
      expect((await store.readLock('ks'))?.id).toBe(held.record.id)

      expect(await admin.forceUnlock('ks', held.record.id)).toEqual(held.record)
      expect(await store.readLock('ks')).toBeUndefined()
      expect((await rejection(admin.forceUnlock('ks', held.record.id))).code).toBe('not_found')

      await expect(held.check()).rejects.toMatchObject({code: 'lock_lost'})
      await until(() => lostErr !== undefined, 3_000, 'the lost promise')
      expect(lostErr).toMatchObject({code: 'lock_lost'})
      await held.release()

      // The keyspace is free again.
      const next = await admin.lock('ks', {operation: 'next', timeoutMs: 0})
      await next.release()
    })

    it('never loses an increment when two processes race with CAS', async () => {
      await store.create('c/Counter', {n: 0})
      const procs = [child(['count', url, 'c/Counter', '50']), child(['count', url, 'c/Counter', '50'])]
      const results = procs.map(exited)
      try {
        await Promise.all(procs.map(firstLine))
        for (const p of procs) p.stdin!.end('go\n')
        const done = await Promise.all(results)
        for (const r of done) expect(r, r.stderr).toMatchObject({code: 0})
        const conflicts = done.reduce(
          (n, r) => n + (JSON.parse(r.stdout.trim().split('\n').pop()!) as {conflicts: number}).conflicts,
          0,
        )
        expect((await store.get<{n: number}>('c/Counter'))?.value.n).toBe(100)
        // They really did race.
        expect(conflicts).toBeGreaterThan(0)
      } finally {
        await Promise.all(procs.map(killed))
      }
    })

    it('exports a snapshot that opens read-only', async () => {
      await store.create(keyspacePath('ks'), {name: 'ks'})
      await store.create(shardPath('ks', '0'), {name: '0'})
      const held = await store.lock('ks', {operation: 'export', timeoutMs: 0})
      const snap = await exportSnapshot(store)
      expect(snap).toMatchObject({format_version: '1', source: store.url})
      expect(snap.records).toEqual({[keyspacePath('ks')]: {name: 'ks'}, [shardPath('ks', '0')]: {name: '0'}})
      expect(snap.records[lockPath('ks')]).toBeUndefined()
      await held.release()

      const file = join(scratch, `snap-${Date.now()}-${name}.json`)
      await writeSnapshot(store, file)
      const ro = await openTopo(`file:${file}`)
      opened.push(ro)
      expect((await ro.get(keyspacePath('ks')))?.value).toEqual({name: 'ks'})
      expect((await ro.list('keyspaces/ks/shards/')).map((e) => e.path)).toEqual([shardPath('ks', '0')])
      expect(await ro.readLock('ks')).toBeUndefined()
      const v = (await ro.get(keyspacePath('ks')))!.version
      for (const write of [
        ro.create('x/Y', {}),
        ro.update(keyspacePath('ks'), {}, v),
        ro.delete(keyspacePath('ks')),
        ro.commit([{op: 'put', path: 'x/Y', value: 1}]),
        ro.lock('ks', {operation: 'nope', timeoutMs: 0}),
        ro.forceUnlock('ks', 'abc'),
      ]) {
        const err = await rejection(write)
        expect(err.code).toBe('read_only')
        expect(err.message).toContain('read-only snapshot')
      }
    })
  })
}

function workflowPathOf(id: string) {
  return `workflows/${id}/Workflow`
}

// ---- the two backends

let fileBase: string
let fileN = 0
topoContract(
  'file',
  async () => {
    fileBase = await mkdtemp(join(tmpdir(), 'shardform-filetopo-'))
    return {
      freshUrl: () => `file:${join(fileBase, String(fileN++))}`,
      open: (u) => openTopo(u, {file: {pollMs: 20}}),
    }
  },
  async () => {
    await rm(fileBase, {recursive: true, force: true})
  },
)

let etcd: TestEtcd
topoContract(
  'etcd',
  async () => {
    etcd = await startEtcd()
    return {freshUrl: () => etcd.newUrl(), open: (u) => openTopo(u)}
  },
  async () => {
    await etcd?.stop()
  },
)

// ---- file backend only

describe('file backend', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shardform-fileonly-'))
  })
  afterAll(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('keeps each record as a readable JSON file holding exactly the record', async () => {
    const d = join(dir, 'readable')
    const s = await FileTopoStore.open(d)
    const value = {name: 'ks', sharded: true, vschema: {sharded: true}}
    await s.create(keyspacePath('ks'), value)
    expect(await readFile(join(d, 'keyspaces/ks/Keyspace.json'), 'utf8')).toBe(JSON.stringify(value, null, 2) + '\n')
    await s.delete(keyspacePath('ks'))
    expect(existsSync(join(d, 'keyspaces'))).toBe(false)
    await s.close()
  })

  it('says which file is broken instead of guessing', async () => {
    const d = join(dir, 'broken')
    const s = await FileTopoStore.open(d)
    await mkdir(join(d, 'keyspaces/ks'), {recursive: true})
    await writeFile(join(d, 'keyspaces/ks/Keyspace.json'), '{"name": ')
    const err = await rejection(s.get(keyspacePath('ks')))
    expect(err.code).toBe('invalid')
    expect(err.message).toContain('Keyspace.json')
    await s.close()
  })

  it('rolls a commit forward when its writer was killed half way', async () => {
    const d = join(dir, 'journal')
    const s0 = await FileTopoStore.open(d)
    await s0.create('j/A', {n: 0})
    await s0.create('j/C', {n: 0})
    await s0.close()
    const ops = [
      {op: 'put', path: 'j/A', value: {n: 1}},
      {op: 'put', path: 'j/B', value: {n: 1}, version: null},
      {op: 'delete', path: 'j/C'},
    ]
    const r = await exited(child(['crash-commit', d, JSON.stringify(ops)]))
    expect(r.signal, r.stderr).toBe('SIGKILL')
    // Killed after the first write: half applied on disk, journal and mutex left behind.
    expect(JSON.parse(await readFile(join(d, 'j/A.json'), 'utf8'))).toEqual({n: 1})
    expect(existsSync(join(d, 'j/B.json'))).toBe(false)
    expect(existsSync(join(d, '.journal.json'))).toBe(true)
    expect(existsSync(join(d, '.mutex'))).toBe(true)

    // The dead writer's mutex is broken because its pid is gone, not because it aged: with an age limit far off and no
    // patience for a busy mutex, opening (which rolls the journal forward under the mutex) succeeds only that way.
    const s = await FileTopoStore.open(d, {staleMutexMs: 3_600_000, mutexTimeoutMs: 0})
    expect((await s.list('j/')).map((e) => [e.path, e.value])).toEqual([
      ['j/A', {n: 1}],
      ['j/B', {n: 1}],
    ])
    expect(existsSync(join(d, '.journal.json'))).toBe(false)
    await s.close()
  })

  it('a reader rolls a leftover journal forward before it reads', async () => {
    const d = join(dir, 'journal-read')
    const s = await FileTopoStore.open(d)
    await s.create('j/A', {n: 0})
    // What a writer killed right after journaling leaves: the intent, nothing applied.
    const text = (v: unknown) => JSON.stringify(v, null, 2) + '\n'
    await writeFile(
      join(d, '.journal.json'),
      JSON.stringify({
        format: 1,
        ops: [
          {op: 'put', path: 'j/A', text: text({n: 7})},
          {op: 'put', path: 'j/B', text: text({n: 7})},
        ],
      }),
    )
    expect((await s.get('j/A'))?.value).toEqual({n: 7})
    expect((await s.get('j/B'))?.value).toEqual({n: 7})
    await s.close()
  })

  it('takes over a lock whose holder stopped renewing it, even if that process lives', async () => {
    const d = join(dir, 'expired')
    const s = await FileTopoStore.open(d, {pollMs: 20})
    const stale = {id: 'aaaaaaaaaaaa', who: 'x@y pid 1', operation: 'old', created: new Date(0).toISOString()}
    await s.create(lockPath('ks'), {...stale, expires: Date.now() - 1, pid: process.pid, hostname: 'elsewhere'})
    expect(await s.readLock('ks')).toBeUndefined()
    const mine = await s.lock('ks', {operation: 'new', timeoutMs: 0})
    expect(mine.record.id).not.toBe(stale.id)
    await mine.release()

    // A live holder on this host with a fresh record is respected.
    await s.create(lockPath('ks'), {
      ...stale,
      expires: Date.now() + 60_000,
      pid: process.pid,
      hostname: (await import('node:os')).hostname(),
    })
    expect((await rejection(s.lock('ks', {operation: 'new', timeoutMs: 0}))).code).toBe('lock_held')
    // ...until its pid is gone.
    const dead = spawnSync(process.execPath, ['-e', '']).pid
    const cur = await s.get(lockPath('ks'))
    await s.update(lockPath('ks'), {...(cur!.value as object), pid: dead}, cur!.version)
    const taken = await s.lock('ks', {operation: 'new', timeoutMs: 0})
    await taken.release()
    await s.close()
  })

  it('the heartbeat keeps a short-lived lock and notices a takeover', async () => {
    const d = join(dir, 'heartbeat')
    const s = await FileTopoStore.open(d)
    const held = await s.lock('ks', {operation: 'beat', timeoutMs: 0, ttlSeconds: 0.6})
    let lostErr: unknown
    held.lost.catch((e: unknown) => (lostErr = e))
    await sleep(1_000)
    // Renewed past its first expiry, so a second process still finds it held.
    const other = await FileTopoStore.open(d)
    expect((await rejection(other.lock('ks', {operation: 'other', timeoutMs: 0}))).code).toBe('lock_held')
    await held.check()

    // Someone overwrites it (as after a long stall): the heartbeat finds out.
    // (The holder's heartbeat rewrites the record meanwhile, so this is a CAS loop.)
    for (;;) {
      const cur = await other.get(lockPath('ks'))
      const stolen = {...(cur!.value as object), id: 'bbbbbbbbbbbb', who: 'thief'}
      const ok = await other.update(lockPath('ks'), stolen, cur!.version).then(
        () => true,
        (e: TopoError) => {
          if (e.code !== 'conflict') throw e
          return false
        },
      )
      if (ok) break
    }
    await until(() => lostErr !== undefined, 2_000, 'the lost promise')
    expect((lostErr as TopoError).message).toContain('thief')
    await held.release()
    expect((await other.get(lockPath('ks')))?.value).toMatchObject({id: 'bbbbbbbbbbbb'})
    await other.close()
    await s.close()
  })
})

// ---- etcd only: failures of the server itself

describe('etcd backend faults', () => {
  let e: TestEtcd
  beforeAll(async () => {
    e = await startEtcd()
  })
  afterAll(async () => {
    await e?.stop()
  })

  it('says clearly when etcd cannot be reached', async () => {
    // Deadlines far longer than the test's: it must fail on the refused connection, not by waiting one out.
    const err = await rejection(
      openTopo('etcd://127.0.0.1:1/shardform', {etcd: {connectTimeoutMs: 600_000, callTimeoutMs: 600_000}}),
    )
    expect(err.code).toBe('unavailable')
    expect(err.message).toMatch(
      /^cannot reach etcd at etcd:\/\/127\.0\.0\.1:1\/shardform: .*ECONNREFUSED.*Is etcd running\?/,
    )
    expect(err.message).not.toContain('\n')
  })

  it('survives an etcd restart: errors while down, watches resume, a held lock is reported lost', async () => {
    const url = e.newUrl()
    const s = await openTopo(url)
    try {
      const events: WatchEvent[] = []
      const errors: TopoError[] = []
      await s.watch(
        'k/',
        (ev) => events.push(ev),
        (err) => errors.push(err),
      )
      const held = await s.lock('ks', {operation: 'doomed', timeoutMs: 0, ttlSeconds: 1})
      let lostErr: unknown
      held.lost.catch((x: unknown) => (lostErr = x))

      await e.kill()
      const down = await rejection(s.get('k/A'))
      expect(down.code).toBe('unavailable')
      expect(down.message).toContain(`cannot reach etcd at ${url}`)
      await until(() => lostErr !== undefined, 4_000, 'the lock to be reported lost')
      expect(lostErr).toMatchObject({code: 'lock_lost'})
      await expect(held.check()).rejects.toMatchObject({code: 'lock_lost'})

      await e.restart()
      let ok = false
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await s.create('k/A', {n: 1}).then(
          () => true,
          () => false,
        )
        if (!ok) await sleep(100)
      }
      expect(ok).toBe(true)
      await until(() => events.some((ev) => ev.type === 'put' && ev.entry.path === 'k/A'), 8_000, 'the watch to resume')
      expect(errors).toEqual([])
      await held.release()
    } finally {
      await s.close()
    }
  })

  it('close() lets the process exit', async () => {
    const url = e.newUrl()
    const script = join(scratch, 'exit.mts')
    await writeFile(
      script,
      `import {openTopo} from ${JSON.stringify(pathToFileURL(join(SRC, 'open.ts')).href)}
const s = await openTopo(${JSON.stringify(url)})
await s.create('a/B', {n: 1})
await s.watch('a/', () => {})
const l = await s.lock('ks', {operation: 'exit', timeoutMs: 0})
void l
await s.close()
console.log('closed')
`,
    )
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: resolve(import.meta.dirname, '../..'),
      stdio: 'pipe',
    })
    registerProcess('topo close() child', child)
    let closedAt = 0
    child.stdout.on('data', () => (closedAt ||= Date.now()))
    // The child exits by itself: a handle left open (a gRPC channel, a lease keep-alive, a timer) would keep it alive
    // indefinitely, and this test would fail on its timeout.
    const r = await exited(child)
    expect(r, r.stderr).toMatchObject({code: 0})
    expect(r.stdout.trim()).toBe('closed')
    console.log(`the process exited ${Date.now() - closedAt} ms after close() returned`)
    // close() released the lock it still held.
    const s = await openTopo(url)
    expect(await s.readLock('ks')).toBeUndefined()
    await s.close()
  })
})

// ---- URLs

describe('openTopo URLs', () => {
  it('refuses what it cannot open, showing each accepted form', async () => {
    for (const bad of [
      'mysql://127.0.0.1/x',
      'file:',
      'etcd://127.0.0.1:notaport/x',
      'etcd://h:1/bad root',
      '.shardform/topo',
    ]) {
      const err = await rejection(openTopo(bad))
      expect(err.code).toBe('bad_url')
      expect(err.message).toContain('etcd://127.0.0.1:2379/shardform')
    }
    const plain = await rejection(openTopo('nonsense'))
    expect(plain.message).toContain('file:')
  })

  it('falls back to $SHARDFORM_TOPO', async () => {
    const d = join(scratch, 'from-env')
    const saved = process.env.SHARDFORM_TOPO
    process.env.SHARDFORM_TOPO = `file:${d}`
    try {
      const s = await openTopo()
      expect(s.url).toBe(`file:${d}`)
      await s.close()
    } finally {
      if (saved === undefined) delete process.env.SHARDFORM_TOPO
      else process.env.SHARDFORM_TOPO = saved
    }
  })
})
