// Fault (issue #15, 2): a 1 → 4 split of the guestbook under load whose four diff tasks share ONE ordered scan of the
// source (phases/diff-scan.ts). `kill -9` of `shardform apply` lands in the middle of that shared scan (after its
// streams are held, seen on apply's output); `apply` resumes, the four diffs scan together again and pass, the
// workflow completes, the rdonly the scan stopped replicates again, and `load verify` finds nothing lost or doubled.
import {copyFileSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {startLoad} from '../helpers/cli.js'
import {assertBuilt} from '../helpers/engine-cli.js'
import {GUESTBOOK_DIR, guestbookFile, type TestCluster} from '../helpers/cluster.js'
import {
  bulkLoad,
  checkBulkRows,
  cliProc,
  injected,
  KS,
  openWorkflow,
  recordProblems,
  startFaultCluster,
  withApprovals,
  workflowById,
} from '../helpers/fault-cluster.js'

const ROWS = 100_000
const DESTS = ['-40', '40-80', '80-c0', 'c0-']
let c: TestCluster

beforeAll(async () => {
  assertBuilt()
  // The source with its rdonly (the shared scan stops it once for all four); destinations with a primary each (fewer
  // instances), and no gates: the four diff tasks start together, so they form one cohort and share one scan.
  const dir = mkdtempSync(join(tmpdir(), 'shardform-shared-diff-'))
  copyFileSync(join(GUESTBOOK_DIR, 'vschema.json'), join(dir, 'vschema.json'))
  const source = readFileSync(guestbookFile('1-shard.yaml'), 'utf8').replace(/^.*type: replica.*\n/m, '')
  const dests = readFileSync(guestbookFile('4-shards.yaml'), 'utf8').replace(/^.*type: (replica|rdonly).*\n/gm, '')
  writeFileSync(join(dir, '1-shard.yaml'), source)
  writeFileSync(join(dir, '4-shards.yaml'), withApprovals(dests, 'default: none'))
  c = await startFaultCluster([join(dir, '1-shard.yaml'), join(dir, '4-shards.yaml')], {init: 0, schema: true})
  await bulkLoad(c, ROWS)
}, 240_000)

afterAll(async () => {
  await c?.stop()
})

/** The line each diff task logs once its streams are held for the one scan of all four destinations. */
const sharedLine = (d: string) =>
  new RegExp(
    `diff/${d}: streams into ${d} held at 0@\\S+ \\(read on rdonly test-102\\); one scan of 0 compares 4 destination\\(s\\): -40, 40-80, 80-c0, c0-`,
  )

it(
  'kill -9 of apply in the middle of the shared diff of a 1 → 4 split, under load: resumes, one scan again, nothing lost',
  {timeout: 300_000},
  async () => {
    const journal = join(c.dir, 'shared-diff.journal')
    const load = startLoad(
      KS,
      ['--rate', '100', '--concurrency', '4', '--journal', journal, '--buffer-window', '30'],
      c.env,
    )
    await sleep(1000)
    const args = ['apply', c.layoutFiles[1], '--auto-approve', '--lock-ttl', '5', '--lock-timeout', '0']

    const first = cliProc(c, args)
    // All four in the one scan (each line is printed once the record holds it).
    for (const d of DESTS) await first.waitFor(sharedLine(d), 240_000)
    first.proc.kill('SIGKILL')
    const killed = await first.exited
    expect(killed.signal).toBe('SIGKILL')
    const id = (await openWorkflow(c))!.id
    const atKill = await workflowById(c, id)
    const diffs = Object.values(atKill.tasks).filter((t) => t.phase === 'diff')
    injected(
      `kill -9 of apply (pid ${first.proc.pid}) in the shared diff: ${diffs.map((t) => `${t.id} ${t.state}`).join(', ')}`,
    )
    // In the middle of it: all four ran in the one scan, none had finished.
    expect(diffs.map((t) => t.state)).toEqual(['running', 'running', 'running', 'running'])
    expect(recordProblems(atKill)).toEqual([])

    const again = await cliProc(c, args).exited
    expect(again.code, `${again.stdout.slice(-4000)}\n${again.stderr}`).toBe(0)
    for (const d of DESTS) expect(again.stdout).toMatch(sharedLine(d))
    await sleep(1000)
    const {summary, code, stderr} = await load.stop()

    const wf = await workflowById(c, id)
    expect(wf.state).toBe('done')
    expect(recordProblems(wf)).toEqual([])
    for (const d of DESTS) {
      const t = wf.tasks[`diff/${d}`]!
      expect(t.state, t.id).toBe('done')
      expect(t.attempts, t.id).toBe(2)
      // Its result says which destinations its scan covered: all four, in one scan.
      expect((t.output?.scan as {destinations: string[]}).destinations).toEqual(DESTS)
      expect(Number(t.output?.compared), t.id).toBeGreaterThan(ROWS / 8)
      // Both runs (killed, resumed) scanned for all four at once.
      const shared = wf.events.filter(
        (e) => e.task === t.id && /one scan of 0 compares 4 destination\(s\)/.test(e.message),
      )
      expect(shared.length, t.id).toBe(2)
    }
    // The rdonly the killed scan had stopped replicates again.
    const [st] = await c.query<{Slave_SQL_Running: string}>('test-102', 'SHOW SLAVE STATUS')
    expect(String(st?.Slave_SQL_Running)).toBe('Yes')

    expect(summary.errors, JSON.stringify(summary.firstErrors)).toBe(0)
    expect(code, stderr).toBe(0)
    expect(Number(summary.acknowledged)).toBeGreaterThan(100)
    const v = await cliProc(c, ['load', 'verify', '--journal', journal, KS]).exited
    console.log(v.stdout.trim())
    expect(v.code, v.stdout + v.stderr).toBe(0)
    console.log(`bulk rows per shard: ${JSON.stringify(await checkBulkRows(c, ROWS))}`)
  },
)
