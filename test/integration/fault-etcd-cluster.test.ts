// Fault (issue 17): the topology on a 3-member etcd cluster on loopback (`--topo etcd://h1,h2,h3/<root>`), one member
// SIGKILLed during a real 1 → 2 reshard of the guestbook with writes flowing through the router: a follower
// mid-clone, then the leader at the cutover (sources frozen inside migrate_primary). The apply carries on, or stops
// with a clear error and the next apply (no force-unlock) resumes; in the end every acknowledged write is present
// exactly once on the right shard, every bulk row too, and the serving map names the new shards only.
import {join} from 'node:path'
import {afterAll, beforeAll, expect, it} from 'vitest'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {hasStackTrace, startLoad} from '../helpers/cli.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import {assertBuilt} from '../helpers/engine-cli.js'
import {startEtcdCluster, type TestEtcdCluster} from '../helpers/etcd-cluster.js'
import {bulkLoad, checkBulkRows, cliProc, injected, KS, openWorkflow, workflowById} from '../helpers/fault-cluster.js'

const ROWS = 20_000
let etcd: TestEtcdCluster | undefined
const clusters = new Set<TestCluster>()

beforeAll(async () => {
  assertBuilt()
  etcd = await startEtcdCluster(3)
}, 60_000)

afterAll(async () => {
  for (const c of clusters) await c.stop().catch(() => undefined)
  await etcd?.stop()
})

/** A fresh guestbook cluster (1 shard, 2 declared) whose topology is a new root on every etcd member. */
async function guestbook(): Promise<TestCluster> {
  const c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {
    init: 0,
    schema: true,
    topoUrl: etcd!.newUrl(),
  })
  clusters.add(c)
  await bulkLoad(c, ROWS, {messageBytes: 200})
  return c
}

/**
 * Reshard 1 → 2 under load; when apply prints `at`, SIGKILL the etcd member `pick` chooses (given the leader's index)
 * while `task` runs. Returns how many applies it took. Asserts that nothing was lost and the serving map moved.
 */
async function reshardKilling(c: TestCluster, at: RegExp, task: string, pick: (leader: number) => number) {
  const journal = join(c.dir, 'load.journal')
  const load = startLoad(
    KS,
    ['--rate', '60', '--concurrency', '4', '--journal', journal, '--buffer-window', '30'],
    c.env,
  )
  let apply = cliProc(c, ['apply', c.layoutFiles[1]!, '--auto-approve'])
  await apply.waitFor(at, 120_000)
  // Hold apply still where it printed `at` (the cutover lasts well under a second): the kill then lands inside
  // `task`, and apply's next etcd requests meet a dead member (and, for the leader, an election).
  apply.proc.kill('SIGSTOP')
  let leader: number, victim: number, wf: WorkflowRecord | undefined
  try {
    leader = await etcd!.leader()
    victim = pick(leader)
    wf = await openWorkflow(c)
    expect(wf?.tasks[task]?.state, `${task} runs when the member is killed`).toBe('running')
    await etcd!.kill(victim)
  } finally {
    apply.proc.kill('SIGCONT')
  }
  const killedAt = new Date().toISOString()
  injected(
    `SIGKILL of etcd member ${victim} (${etcd!.members[victim]!.host}, ${victim === leader ? 'the leader' : `a follower; leader ${leader}`}) while ${task} runs`,
  )
  let applies = 1
  let r = await apply.exited
  if (r.code !== 0) {
    // Stopping is allowed, but with a clear one-paragraph error and no stack trace; the next apply resumes.
    console.log(`apply stopped (${r.code}): ${r.stderr.trim()}\n${r.stdout.trim().split('\n').slice(-8).join('\n')}`)
    expect(r.code, r.stdout + r.stderr).toBe(1)
    expect(r.stderr).toMatch(/^Error: /m)
    expect(hasStackTrace(r.stderr), r.stderr).toBe(false)
    apply = cliProc(c, ['apply', '--auto-approve', '--lock-timeout', '30s'])
    applies++
    r = await apply.exited
    expect(r.stdout, r.stderr).toMatch(/Resuming workflow/)
  }
  expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0)
  expect(r.stdout).toContain('Apply complete!')
  const newLeader = await etcd!.leader()
  expect(newLeader).not.toBe(victim)
  const {summary, code, stderr} = await load.stop()
  console.log(
    `${applies} apply run(s); leader now ${newLeader}; load: ${summary.acknowledged} acknowledged, ${summary.errors} errors`,
  )
  expect(code, stderr).toBe(0)
  expect(summary.errors, JSON.stringify(summary.firstErrors)).toBe(0)
  expect(Number(summary.acknowledged)).toBeGreaterThan(50)

  const done = await workflowById(c, wf!.id)
  const since = done.events.filter((e) => e.at >= killedAt)
  console.log(
    `after the kill: ${(r.stdout.match(/The topology is unreachable/g) ?? []).length} "topology is unreachable" notes; ` +
      `interrupted: ${
        since
          .filter((e) => e.type === 'task_interrupted')
          .map((e) => `${e.task} (${e.message})`)
          .join('; ') || 'none'
      }`,
  )
  expect(done.state).toBe('done')
  for (const t of Object.values(done.tasks)) expect(t.state, t.id).toBe('done')
  // Serving map: the new shards serve every tablet type; the source serves none.
  const st = (await readKeyspaceState(c.store, KS))!
  for (const type of ['primary', 'replica', 'rdonly'] as const)
    expect([...st.srvKeyspace.partitions[type]].sort(), type).toEqual(['-80', '80-'])
  for (const s of st.shards) expect(s.servedTypes.length, s.name).toBe(s.name === '0' ? 0 : 3)
  const v = await cliProc(c, ['load', 'verify', '--journal', journal, KS]).exited
  console.log(v.stdout.trim())
  expect(v.code, v.stdout + v.stderr).toBe(0)
  console.log(`bulk rows per shard: ${JSON.stringify(await checkBulkRows(c, ROWS))}`)
  // The layout is what the topology says: a plan finds nothing to do.
  const plan = await cliProc(c, ['plan', c.layoutFiles[1]!]).exited
  expect(plan.stdout, plan.stderr).toMatch(/No changes\. Keyspace test_keyspace matches/)
  return applies
}

it(
  'a follower SIGKILLed mid-clone: the reshard completes on the other two members, nothing lost',
  {timeout: 150_000},
  async () => {
    await etcd!.startStopped()
    const c = await guestbook()
    try {
      await reshardKilling(c, /clone\/0: snapshot of 0/, 'clone/0', (leader) => (leader + 1) % 3)
    } finally {
      clusters.delete(c)
      await c.stop()
    }
  },
)

it(
  'the leader SIGKILLed at the cutover (sources frozen): completes or stops clearly and resumes, nothing lost',
  {timeout: 150_000},
  async () => {
    await etcd!.startStopped()
    const c = await guestbook()
    try {
      await reshardKilling(c, /migrate_primary\/0: sources 0 are read-only/, 'migrate_primary/0', (leader) => leader)
    } finally {
      clusters.delete(c)
      await c.stop()
    }
  },
)
