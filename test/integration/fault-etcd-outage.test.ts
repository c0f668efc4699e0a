// Fault (issue #8, 3): etcd (the topology) killed for 10 s in the middle of a real data-plane reshard — once during
// the clone, once during the diff — with guestbook writes flowing through the router. The apply either waits and completes, or stops cleanly
// and a later apply completes; the workflow record is never corrupted: every version written parses, is
// consistent, and its events are append-only (each version's events are a prefix of the next one's).
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {runLoad, verifyJournal} from '../../src/load/index.js'
import {workflowsPrefix} from '../../src/topo/paths.js'
import {assertBuilt} from '../helpers/engine-cli.js'
import {guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {
  bulkLoad,
  checkBulkRows,
  cliProc,
  eventsDiverge,
  injected,
  KS,
  recordProblems,
  startFaultCluster,
  workflowById,
  workflows,
} from '../helpers/fault-cluster.js'

const ROWS = 150_000
const OUTAGE_MS = 10_000
let c: TestCluster

beforeAll(async () => {
  assertBuilt()
  c = await startFaultCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  await bulkLoad(c, ROWS, {messageBytes: 200})
}, 240_000)

afterAll(async () => {
  await c?.stop()
})

/** Every version of every workflow record, as etcd delivered them (the watch resumes after etcd is back). */
function recordVersions() {
  const versions: Array<{rev: number; wf: WorkflowRecord}> = []
  let stop: (() => void) | undefined
  let stopped = false
  const start = async (): Promise<void> => {
    stop = await c.store.watch<WorkflowRecord>(
      workflowsPrefix(),
      (ev) => {
        if (ev.type === 'put' && ev.entry.path.endsWith('/Workflow'))
          versions.push({rev: Number(ev.entry.version), wf: ev.entry.value})
      },
      () => {
        if (!stopped) void sleep(500).then(() => start().catch(() => undefined))
      },
    )
  }
  return {
    versions,
    start,
    stop: () => {
      stopped = true
      stop?.()
    },
  }
}

// The first apply holds its lock with a 5 s lease: it cannot outlive a 10 s outage, so that apply must stop cleanly
// and the next one resume. The resumed apply holds a 30 s lease, which etcd renews once it is back: it waits through
// the second outage. (With the default 15 s the margin is only what is left of the last keep-alive's ttl/3 period
// minus etcd's restart, and a busy machine once used it up.)
const OUTAGES = [
  {during: 'clone/0 (copying)', at: /clone\/0: snapshot of 0/, expect: 'stopped'},
  {during: 'diff/-80 (streams held, comparing)', at: /diff\/-80: streams into -80 held/, expect: 'waited'},
]

it(
  'etcd down for 10 s during the clone, then during the diff: apply stops cleanly and resumes, or waits; the record stays valid',
  {timeout: 240_000},
  async () => {
    const ac = new AbortController()
    const journalFile = join(c.dir, 'etcd-outage.journal')
    const loading = runLoad({keyspace: KS, store: c.store, rate: 80, concurrency: 4, journalFile, signal: ac.signal})
    const rec = recordVersions()
    await rec.start()
    try {
      await sleep(1000)
      let apply = cliProc(c, ['apply', c.layoutFiles[1], '--auto-approve', '--lock-ttl', '5'])
      let wfId = ''
      let before: WorkflowRecord | undefined
      const outcomes: string[] = []
      for (const o of OUTAGES) {
        await apply.waitFor(o.at, 120_000)
        await sleep(500)
        expect(apply.done, apply.stdout + apply.stderr).toBe(false)
        wfId ||= (await workflows(c))[0]!.id
        const snap = await workflowById(c, wfId)
        before ??= snap
        await c.etcd!.kill()
        const t0 = Date.now()
        injected(
          `SIGKILL of etcd (the topology) during ${o.during} (workflow at phase ${snap.currentPhase}, ${snap.events.length} events), restarted after ${OUTAGE_MS / 1000} s`,
        )
        await sleep(OUTAGE_MS)
        const state = apply.done ? `apply had exited (${apply.proc.exitCode})` : 'apply still running'
        await c.etcd!.restart()
        console.log(`etcd back after ${((Date.now() - t0) / 1000).toFixed(1)} s; ${state}`)
        // Either it carries on (it reaches the next outage or the end) or it stops cleanly and a new apply resumes.
        const next = OUTAGES[OUTAGES.indexOf(o) + 1]
        const until = next
          ? apply.waitFor(next.at, 120_000).then(
              () => 'on',
              () => 'exited',
            )
          : apply.exited.then(() => 'exited')
        if ((await until) === 'exited') {
          const r = await apply.exited
          const unreachable = (r.stdout.match(/The topology is unreachable/g) ?? []).length
          console.log(
            `apply exited ${r.code} ${(r.ms / 1000).toFixed(1)} s after it started; "topology is unreachable" notes: ${unreachable}`,
          )
          if (r.code === 0 && !next) {
            expect(r.stdout).toContain('Apply complete!')
            expect(o.expect).toBe('waited')
            outcomes.push(`${o.during}: the apply waited for etcd and completed`)
            break
          }
          // Stopping cleanly is allowed (e.g. its lock's lease ran out while etcd was down): an error saying why.
          console.log(`apply stopped: ${r.stderr.trim()}`)
          expect(r.code, r.stdout + r.stderr).toBe(1)
          expect(r.stderr).toMatch(/^Error: /m)
          expect(o.expect).toBe('stopped')
          outcomes.push(`${o.during}: the apply stopped cleanly (exit ${r.code}); the next apply resumed`)
          apply = cliProc(c, ['apply', '--auto-approve', '--lock-timeout', '30s', '--lock-ttl', '30'])
          if (!next) {
            const again = await apply.exited
            expect(again.code, again.stdout + again.stderr).toBe(0)
            expect(again.stdout).toMatch(/Resuming workflow/)
          }
        } else {
          expect(o.expect).toBe('waited')
          outcomes.push(`${o.during}: the apply waited for etcd and carried on`)
        }
      }
      console.log(outcomes.join('\n'))
      await sleep(1000)
      const summary = (ac.abort(), await loading)
      console.log(`load: ${summary.acknowledged} acknowledged, ${summary.errors} errors`)
      expect(summary.errors, summary.firstErrors.join('\n')).toBe(0)

      // The record as it ends, and as every version of it was written.
      const after = await workflowById(c, wfId)
      expect(after.state).toBe('done')
      expect(recordProblems(after)).toEqual([])
      expect(
        eventsDiverge(before!.events, after.events),
        'events before the outage are a prefix of the events after',
      ).toBe(-1)
      for (const t of Object.values(after.tasks)) expect(t.state, t.id).toBe('done')
      rec.stop()
      const versions = rec.versions.filter((v) => v.wf.id === wfId).sort((a, b) => a.rev - b.rev)
      expect(versions.length).toBeGreaterThan(20)
      for (let i = 0; i < versions.length; i++) {
        const v = versions[i]!.wf
        expect(recordProblems(v), `version ${versions[i]!.rev}`).toEqual([])
        if (i > 0)
          expect(
            eventsDiverge(versions[i - 1]!.wf.events, v.events),
            `events of version ${versions[i]!.rev} extend the previous one`,
          ).toBe(-1)
      }
      expect(eventsDiverge(versions[versions.length - 1]!.wf.events, after.events)).toBe(-1)
      console.log(
        `${versions.length} versions of the workflow record checked; ${after.events.length} events, ${after.events.filter((e) => e.type === 'task_interrupted').length} task interruptions`,
      )

      for (const id of ['diff/-80', 'diff/80-'])
        expect(Number(after.tasks[id]!.output?.compared), id).toBeGreaterThan(ROWS / 3)
      const report = await verifyJournal({store: c.store, keyspace: KS, journalFile})
      expect(report.ok, JSON.stringify(report.differences.slice(0, 5))).toBe(true)
      await checkBulkRows(c, ROWS)
    } finally {
      rec.stop()
      ac.abort()
      await loading.catch(() => undefined)
    }
  },
)
