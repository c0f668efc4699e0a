// The dashboard of a large workflow in headless Chromium: a 64 → 128 split (832 tasks) waiting at its first gate, served
// by `shardform server --listen` from a file topology (no MariaDB: nothing runs before the gate is approved). A phase
// of more than 20 tasks lists only its notable ones and counts the rest until "Show all", which survives the page's
// live updates; the plan's long lists fold under a summary.
import {spawn} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Browser} from 'playwright-core'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {WorkflowWriter} from '../../src/engine/writer.js'
import {FileTopoStore} from '../../src/topo/file.js'
import {launchChromium} from '../helpers/browser.js'
import {assertBuilt, BIN} from '../helpers/engine-cli.js'
import {createLargeSplit} from '../helpers/large-split.js'
import {registerProcess} from '../helpers/procs.js'

let dir: string
let browser: Browser
let url: string
let wfId: string
let stopServer: () => Promise<void>

beforeAll(async () => {
  assertBuilt()
  dir = await mkdtemp(join(tmpdir(), 'shardform-dashboard-large-'))
  const store = await FileTopoStore.open(join(dir, 'topo'))
  try {
    wfId = await createLargeSplit(store, 64)
  } finally {
    await store.close()
  }
  const server = spawn(process.execPath, [BIN, 'server', '--id', 'big', '--listen', '127.0.0.1:0'], {
    env: {...process.env, SHARDFORM_TOPO: `file:${join(dir, 'topo')}`},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  registerProcess('server big', server)
  const exited = new Promise((resolve) => server.once('exit', resolve))
  // SIGTERM hands the workflow back and deregisters, writing to the topology: its folder goes after the exit.
  stopServer = async () => {
    server.kill('SIGTERM')
    await exited
  }
  let out = ''
  url = await new Promise<string>((resolve, reject) => {
    const seen = (d: Buffer) => {
      out += d.toString()
      const m = /dashboard and \/metrics on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)
      if (m) resolve(m[1]!)
    }
    server.stdout.on('data', seen)
    server.stderr.on('data', seen)
    server.once('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)))
  })
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await stopServer?.()
  if (dir) await rm(dir, {recursive: true, force: true})
})

it(
  'lists the notable tasks of a large phase, counts the rest, and shows all on demand',
  {timeout: 60_000},
  async () => {
    const page = await browser.newPage({viewport: {width: 1200, height: 900}})
    page.setDefaultTimeout(30_000)
    await page.goto(`${url}/#/workflows/${encodeURIComponent(wfId)}`)
    const phase = page.locator('li.phase[data-phase="create_shards"]')
    // The canary gate's first task waits; the other 127 are counted, not listed.
    await phase.locator('li.task[data-task="create_shards/-02"]').waitFor()
    await expect.poll(() => phase.locator('li.task').count()).toBe(1)
    expect(await phase.locator('.more-tasks').textContent()).toContain('127 more task(s): 127 pending')
    expect(await page.locator('li.task').count()).toBeLessThan(20)
    // The plan's 128 creates, 64 retires and 192 traffic moves fold under one summary.
    const diff = page.locator('details.plan-list > summary', {hasText: 'Layout diff ('})
    await expect.poll(() => diff.textContent()).toMatch(/^Layout diff \(\d+ changes\)$/)
    expect(await page.locator('details.plan-list li.change').first().isVisible()).toBe(false)

    await phase.getByRole('button', {name: 'Show all 128'}).click()
    await expect.poll(() => phase.locator('li.task').count()).toBe(128)
    // An update of the workflow redraws the page: the phase stays open.
    const store = await FileTopoStore.open(join(dir, 'topo'))
    try {
      const w = await WorkflowWriter.load(store, wfId)
      await w.mutate(
        (wf) => void wf.events.push({at: new Date().toISOString(), who: 't', type: 'log', message: 'poke'}),
      )
    } finally {
      await store.close()
    }
    await page.locator('td', {hasText: 'poke'}).waitFor()
    expect(await phase.locator('li.task').count()).toBe(128)
    await phase.getByRole('button', {name: 'Show fewer'}).click()
    await expect.poll(() => phase.locator('li.task').count()).toBe(1)
    await page.close()
  },
)
