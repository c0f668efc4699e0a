// Rollback by reverting the layout (real MariaDB + etcd, guestbook writes through the router the whole time):
// cancel before the primary cutover, reverse after it, an ordinary merge once the sources are retired.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it, onTestFinished} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {runLoad, verifyJournal} from '../../src/load/index.js'
import {loadLayout} from '../../src/layout/index.js'
import {dataPlaneRuntime} from '../../src/phases/index.js'
import {plan} from '../../src/plan/index.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {srvKeyspacePath, workflowPath} from '../../src/topo/paths.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'

let c: TestCluster
let one: string
/** 2-shards.yaml with a gate that stops the forward workflow at `phase` (no TTY, --no-wait). */
const twoStoppingAt = (phase: string) => {
  const f = join(c.dir, `2-shards-stop-${phase}.yaml`)
  writeFileSync(
    f,
    readFileSync(c.layoutFiles[1], 'utf8').replace(
      /approvals:\n( {2}.*\n)+/,
      `approvals:\n  default: none\n  phases:\n    ${phase}: phase\n`,
    ),
  )
  return f
}

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  one = c.layoutFiles[0]
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

/** Guestbook writes through the router until stopped; the journal proves what was acknowledged. */
function load(name: string) {
  const ac = new AbortController()
  const journalFile = join(c.dir, `${name}.journal`)
  const done = runLoad({
    keyspace: 'test_keyspace',
    store: c.store,
    rate: 120,
    concurrency: 4,
    journalFile,
    signal: ac.signal,
  })
  return {
    journalFile,
    // Stopping twice (the test, then its cleanup) returns the same summary.
    stop: async () => {
      ac.abort()
      return done
    },
  }
}

/** SrvKeyspace primary partition, sampled while work runs: shard 0 must never stop serving during a cancel. */
function watchPrimary() {
  const seen = new Set<string>()
  let stop = false
  const loop = (async () => {
    while (!stop) {
      const srv = await c.store.get<{partitions: {primary: string[]}}>(srvKeyspacePath('test_keyspace'))
      seen.add(srv!.value.partitions.primary.join(','))
      await sleep(50)
    }
  })()
  return async () => {
    stop = true
    await loop.catch(() => undefined)
    return [...seen]
  }
}

// Without --auto-approve the overall question is answered yes; the gates are not (no terminal: wait / --no-wait).
const run = (target: string, opts: {autoApprove?: boolean; noWait?: boolean} = {autoApprove: true}) =>
  apply({store: c.store, runtime: dataPlaneRuntime(), target, ui: {confirm: async () => true}, ...opts})

async function workflow(id: string): Promise<WorkflowRecord> {
  return (await c.store.get<WorkflowRecord>(workflowPath(id)))!.value
}

describe('reverting the layout', () => {
  it('before the primary cutover: cancels; shard 0 serves all along; nothing lost', async () => {
    const l = load('cancel')
    const served = watchPrimary()
    onTestFinished(async () => {
      await served()
      await l.stop()
    })
    await sleep(1500)
    const forward = await run(twoStoppingAt('migrate_primary'), {noWait: true})
    expect(forward.state).toBe('waiting')
    const wf = (forward as {wf: WorkflowRecord}).wf
    expect(wf.tasks['migrate_replica/0'].state).toBe('done')
    // Reads of both types moved to the new shards; primary stays on 0.
    const mid = await readKeyspaceState(c.store, 'test_keyspace')
    expect(mid!.srvKeyspace.partitions).toEqual({primary: ['0'], replica: ['-80', '80-'], rdonly: ['-80', '80-']})

    const p = plan(mid, loadLayout(one))
    expect(p.kind).toBe('revert')
    expect(p.revert).toMatchObject({workflow: wf.id, cancelled: ['0'], reversed: []})
    const back = await run(one)
    expect(back.state === 'failed' ? back.failed.map((t) => t.error) : back.state).toBe('done')
    await sleep(1000)
    const summary = await l.stop()
    expect(await served()).toEqual(['0'])
    expect(summary.errors, summary.firstErrors.join('\n')).toBe(0)

    const after = await readKeyspaceState(c.store, 'test_keyspace')
    expect(after!.shards.map((s) => s.name)).toEqual(['0'])
    expect(after!.srvKeyspace.partitions).toEqual({primary: ['0'], replica: ['0'], rdonly: ['0']})
    expect(after!.tablets.map((t) => t.alias).sort()).toEqual(['test-100', 'test-101', 'test-102'])
    expect(after!.keyspace.vschema.sharded).toBe(false)
    expect((await workflow(wf.id)).state).toBe('cancelled')
    const report = await verifyJournal({store: c.store, keyspace: 'test_keyspace', journalFile: l.journalFile})
    expect(report.ok, JSON.stringify(report.counts)).toBe(true)
    expect(report.counts.present).toBeGreaterThan(50)
  }, 300_000)

  it('after the primary cutover: reverse replication kept shard 0 current; traffic returns; nothing lost, no errors', async () => {
    const l = load('reverse')
    onTestFinished(async () => {
      await l.stop()
    })
    await sleep(1500)
    // The cancelled shards' servers still hold rows: copy_schema empties them (they were marked retired).
    const forward = await run(twoStoppingAt('retire_sources'), {noWait: true})
    expect(forward.state).toBe('waiting')
    const wf = (forward as {wf: WorkflowRecord}).wf
    expect(wf.tasks['migrate_primary/0'].state).toBe('done')
    // Writes land on the new shards for a while; no apply runs, so the reverse streams catch up later.
    await sleep(2500)
    const mid = await readKeyspaceState(c.store, 'test_keyspace')
    expect(mid!.srvKeyspace.partitions.primary).toEqual(['-80', '80-'])
    const p = plan(mid, loadLayout(one))
    expect(p.revert).toMatchObject({workflow: wf.id, cancelled: [], reversed: ['0']})
    expect(p.phases.map((ph) => ph.name)).toEqual([
      'wait_for_filtered_replication',
      'diff',
      'migrate_rdonly',
      'migrate_replica',
      'migrate_primary',
      'apply_vschema',
      'retire_sources',
    ])

    const back = await run(one)
    expect(back.state === 'failed' ? back.failed.map((t) => t.error) : back.state).toBe('done')
    const rwf = (back as {wf: WorkflowRecord}).wf
    expect(rwf.tasks['diff/0'].state).toBe('done')
    expect(Number(rwf.tasks['diff/0'].output?.compared)).toBeGreaterThan(50)
    await sleep(1000)
    const summary = await l.stop()
    expect(summary.errors, summary.firstErrors.join('\n')).toBe(0)

    const after = await readKeyspaceState(c.store, 'test_keyspace')
    expect(after!.srvKeyspace.partitions).toEqual({primary: ['0'], replica: ['0'], rdonly: ['0']})
    expect(after!.shards.map((s) => `${s.name}:${s.frozen}`)).toEqual(['0:false'])
    expect((await workflow(wf.id)).state).toBe('cancelled')
    const [ro] = await c.query<{ro: number | string}>('test-100', 'SELECT @@global.read_only AS ro')
    expect(Number(ro.ro)).toBe(0)
    const report = await verifyJournal({store: c.store, keyspace: 'test_keyspace', journalFile: l.journalFile})
    expect(report.ok, JSON.stringify(report.counts)).toBe(true)
    // Rows written while -80/80- served are on shard 0 now (reverse replication), along with the earlier ones.
    expect(report.counts.present).toBeGreaterThan(100)
    const earlier = await verifyJournal({
      store: c.store,
      keyspace: 'test_keyspace',
      journalFile: join(c.dir, 'cancel.journal'),
    })
    expect(earlier.ok, JSON.stringify(earlier.counts)).toBe(true)
  }, 300_000)

  it('after retire_sources: reverting plans an ordinary 2 → 1 merge', async () => {
    const forward = await run(c.layoutFiles[1])
    expect(forward.state === 'failed' ? forward.failed.map((t) => t.error) : forward.state).toBe('done')
    const st = await readKeyspaceState(c.store, 'test_keyspace')
    const p = plan(st, loadLayout(one))
    expect(p.kind).toBe('reshard')
    expect(p.groups).toEqual([{range: '0', sources: ['-80', '80-'], destinations: ['0']}])
    expect(p.phases.map((ph) => ph.name)).toContain('clone')
    expect(p.notes[0]).toMatch(
      /finished and retired its sources, so it cannot be cancelled or reversed in place: going back is this ordinary reshard/,
    )
    expect(p.revert?.stage).toBe('finished: its sources were retired')
  }, 300_000)
})
