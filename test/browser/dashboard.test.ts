// The dashboard in headless Chromium (Debian's, driven by playwright-core) against `shardform server --listen` running a
// real 1 → 2 split of the guestbook (MariaDB + etcd). The layout gates only diff (canary). Shown, all on one page load:
// the phase tree and progress mid-reshard; **Approve first** lets diff/-80 run and the page follows without reload;
// a row added behind replication on 80- (injected) makes diff/80- fail: **Retry** shows, and once the row is removed a
// click runs the task again and it passes; a table named `<img src=x onerror=alert(1)>` (in the schema and vschema,
// so MySQL's and the layout's names reach the page) shows as text, no img element, no dialog. Then the token form
// of a server with --token-file. SHARDFORM_SCREENSHOT=docs/dashboard.png saves the workflow page.
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import type {Browser, Page} from 'playwright-core'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {GUESTBOOK_SCHEMA, guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import {launchChromium} from '../helpers/browser.js'
import {assertBuilt, ROOT, type Cli} from '../helpers/engine-cli.js'
import {cliProc, injected, KS, openWorkflow, withApprovals, workflowById} from '../helpers/fault-cluster.js'

const XSS = '<img src=x onerror=alert(1)>'
const ROWS = 200

let c: TestCluster
let browser: Browser
let split: string
let dir: string
const procs: Cli[] = []

beforeAll(async () => {
  assertBuilt()
  // The guestbook with a second table named like markup: in MySQL, in both layouts' vschemas.
  // (The cluster's copies of the layouts name this folder's vschema.json: it stays until afterAll.)
  dir = await mkdtemp(join(tmpdir(), 'shardform-dashboard-layouts-'))
  const one = join(dir, '1-shard.yaml')
  writeFileSync(
    one,
    readFileSync(guestbookFile('1-shard.yaml'), 'utf8').replace(
      '    messages: {}\n',
      `    messages: {}\n    ${JSON.stringify(XSS)}: {}\n`,
    ),
  )
  const vschema = JSON.parse(readFileSync(guestbookFile('vschema.json'), 'utf8'))
  vschema.tables[XSS] = {column_vindexes: [{column: 'page', name: 'hash'}]}
  writeFileSync(join(dir, 'vschema.json'), JSON.stringify(vschema, null, 2))
  writeFileSync(
    join(dir, '2-shards.yaml'),
    withApprovals(readFileSync(guestbookFile('2-shards.yaml'), 'utf8'), 'default: none\nphases:\n  diff: canary\n'),
  )
  const schema = `${GUESTBOOK_SCHEMA}\nCREATE TABLE \`${XSS}\` (page BIGINT UNSIGNED NOT NULL PRIMARY KEY, note VARCHAR(64)) ENGINE=InnoDB;\n`
  c = await startTestCluster([one, join(dir, '2-shards.yaml')], {init: 0, schema})
  split = c.layoutFiles[1]!
  await c.query(
    'test-100',
    `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, CONCAT('row ', seq) FROM seq_1_to_${ROWS}`,
  )
  // hash(1), hash(2), hash(3) are all in -80: the table has no row for 80- until the test adds one behind its back.
  await c.query('test-100', `INSERT INTO \`${XSS}\` (page, note) VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
  await c.waitReplication()
  browser = await launchChromium()
}, 180_000)

afterAll(async () => {
  await browser?.close()
  for (const p of procs) if (!p.done) p.proc.kill('SIGTERM')
  await Promise.allSettled(procs.map((p) => p.exited))
  await c?.stop()
  if (dir) await rm(dir, {recursive: true, force: true})
})

function run(args: string[]): Cli {
  const p = cliProc(c, args)
  procs.push(p)
  return p
}

/** `shardform server --listen 127.0.0.1:0`: the port the OS chose, from the line the server prints. */
async function startServer(id: string, extra: string[] = []): Promise<{cli: Cli; url: string}> {
  const cli = run(['server', '--id', id, '--lock-ttl', '5', '--listen', '127.0.0.1:0', ...extra])
  const line = /dashboard and \/metrics on (http:\/\/127\.0\.0\.1:\d+)\//
  await cli.waitFor(line, 30_000)
  await cli.waitFor(new RegExp(`server ${id} registered`), 30_000)
  return {cli, url: line.exec(cli.stdout + cli.stderr)![1]!}
}

/** Statements on a destination primary outside the binlog: neither its replicas nor filtered replication see them. */
async function behindReplication(alias: string, sql: string): Promise<void> {
  const conn = await c.connect(alias, 'admin')
  try {
    await conn.query('SET SESSION sql_log_bin = 0')
    await conn.query(sql)
  } finally {
    await conn.end()
  }
  injected(`${sql} on ${alias} (sql_log_bin=0)`)
}

const task = (page: Page, id: string, state?: string) =>
  page.locator(`li.task[data-task="${id}"]${state ? `[data-state="${state}"]` : ''}`)

it(
  'follows a real reshard: tree and progress, Approve first, Retry of a failed task, names as text',
  {timeout: 240_000},
  async () => {
    const {url} = await startServer('web')
    const planFile = join(c.dir, 'split.plan')
    expect((await run(['plan', split, '--out', planFile]).exited).code).toBe(0)
    const applied = await run(['apply', planFile, '--detach']).exited
    expect(applied.code, applied.stderr).toBe(0)
    const wfId = (await openWorkflow(c))!.id

    const page = await browser.newPage({viewport: {width: 1200, height: 900}})
    // Waits are for DOM states; this only bounds a hang (a busy machine runs several suites at once).
    page.setDefaultTimeout(90_000)
    const dialogs: string[] = []
    page.on('dialog', (d) => {
      dialogs.push(d.message())
      void d.dismiss()
    })
    let loads = 0
    page.on('load', () => loads++)
    await page.goto(`${url}/#/workflows/${encodeURIComponent(wfId)}`)

    // (1) Mid-reshard, at the diff gate: every phase of the plan in the tree, clone done with its rows counted.
    const approveFirst = page.getByRole('button', {name: 'Approve first'})
    await approveFirst.waitFor()
    const wf = await workflowById(c, wfId)
    await expect
      .poll(() => page.locator('li.phase').evaluateAll((els) => els.map((e) => e.getAttribute('data-phase'))))
      .toEqual(wf.plan.phases.map((p) => p.name))
    await task(page, 'clone/0', 'done').waitFor()
    // Clone's progress: every row of both tables copied (of an estimated total).
    await task(page, 'clone/0')
      .locator('.progress-text', {hasText: new RegExp(`^${ROWS + 3} / [\\d,]+ rows`)})
      .waitFor()
    await page.locator('li.phase[data-phase="diff"][data-state="waiting"]').waitFor()
    await task(page, 'diff/-80', 'waiting_approval').waitFor()
    await page.locator('.overall .bar-fill').waitFor()
    // Filtered replication runs: its streams are listed with a lag chart each.
    await page.locator('.stream canvas').first().waitFor()

    // (2) Approve first: the canary diff runs and passes; the page follows (no reload) to the next stage.
    await approveFirst.click()
    await task(page, 'diff/-80', 'done').waitFor()
    const approveRest = page.getByRole('button', {name: 'Approve rest'})
    await approveRest.waitFor()
    // Only the canary ran: the other diff still waits for its approval.
    await task(page, 'diff/80-', 'waiting_approval').waitFor()
    expect(await task(page, 'diff/80-').getAttribute('data-state')).toBe('waiting_approval')
    await task(page, 'diff/-80')
      .locator('.progress-text', {hasText: /rows compared/})
      .waitFor()
    expect((await workflowById(c, wfId)).approvals.map((a) => a.gate)).toEqual(['diff:first'])
    if (process.env.SHARDFORM_SCREENSHOT) {
      // A picture with some lag history in the charts: 20 samples each (the streams publish twice a second).
      await expect
        .poll(
          () => page.locator('.lag-chart').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-samples')))),
          {timeout: 60_000, interval: 200},
        )
        .toSatisfy((n: number[]) => n.length > 0 && n.every((x) => x >= 20))
      const out = resolve(ROOT, process.env.SHARDFORM_SCREENSHOT)
      mkdirSync(dirname(out), {recursive: true})
      // The page down to the plan's layout diff (the history below it is long).
      const history = await page.locator('section.history').boundingBox()
      await page.screenshot({path: out, fullPage: true, clip: {x: 0, y: 0, width: 1200, height: history!.y}})
    }

    // (3) A row on 80- that the source never had: diff/80- fails, the page shows its error and Retry.
    await behindReplication('test-300', `INSERT INTO \`${XSS}\` (page, note) VALUES (4, 'extra')`)
    await approveRest.click()
    await task(page, 'diff/80-', 'failed').waitFor()
    const retry = task(page, 'diff/80-').getByRole('button', {name: 'Retry'})
    await retry.waitFor()
    // (4) The table's name reached the page from MySQL (the diff's error) and from the layout (the vschema diff): text.
    const error = task(page, 'diff/80-').locator('.task-error')
    await error.waitFor()
    expect(await error.textContent()).toMatch(/1 extra/)
    expect(await error.textContent()).toContain(XSS)
    expect(await page.locator('pre.diff').textContent()).toContain(XSS)
    await page.getByText(XSS).first().waitFor()
    expect(await page.locator('img').count()).toBe(0)

    await behindReplication('test-300', `DELETE FROM \`${XSS}\` WHERE page = 4`)
    await retry.click()
    await task(page, 'diff/80-', 'done').waitFor()
    const after = await workflowById(c, wfId)
    expect(after.tasks['diff/80-']!.attempts).toBe(2)

    // The rest has no gate: the workflow completes, still on the same page load.
    await page.locator('.wf-head .badge.state-done').waitFor({timeout: 120_000})
    expect(loads).toBe(1)
    expect(dialogs).toEqual([])
    expect(await page.locator('img').count()).toBe(0)

    // The home page draws the new shards serving every type, and lists the workflow as done.
    await page.goto(`${url}/#/`)
    for (const shard of ['-80', '80-'])
      await page.locator(`.segment[data-shard="${shard}"][data-serving="primary replica rdonly"]`).waitFor()
    await page.locator(`.wf-group[data-group="done"] tr[data-workflow="${wfId}"]`).waitFor()
    await page.close()
  },
)

it('a server with --token-file: the page asks for the token once, then shows the keyspaces', async () => {
  const tokens = join(c.dir, 'tokens')
  writeFileSync(tokens, 'alice: 0123456789abcdef0123456789abcdef\n', {mode: 0o600})
  const {url} = await startServer('web-token', ['--token-file', tokens])
  const page = await browser.newPage()
  await page.goto(`${url}/`)
  const input = page.locator('.token-form input[name="token"]')
  await input.fill('0123456789abcdef0123456789abcdef')
  await page.getByRole('button', {name: 'Use token'}).click()
  await page.locator(`.keyspace[data-keyspace="${KS}"]`).waitFor()
  expect(await page.locator('.token-form').count()).toBe(0)
  expect(await page.evaluate("sessionStorage.getItem('shardform.token')")).toBe('0123456789abcdef0123456789abcdef')
  await page.close()
})
