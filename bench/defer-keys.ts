// Deferred secondary keys (settings.deferSecondaryKeys): the same rows, in a table with two secondary keys, split
// 1 → 2 with the keys kept during the copy and with them added afterwards. The figure counts what the keys cost
// either way: the clone plus the wait_for_filtered_replication phase (where deferred keys are built), rows / s. Two
// runs per mode, each on a fresh cluster (source: primary + rdonly; destinations: primaries only); apply runs
// in-process and stops at the gate before the diff.
import {readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {apply} from '../src/engine/apply.js'
import {dataPlaneRuntime} from '../src/phases/index.js'
import {loadSource} from './copy.js'
import {layoutFile, phaseTiming, withBenchCluster, workflowOf} from './lib/cluster.js'
import {DATABASE, readChunks, rowKeys, TABLE, writeRowsFile} from './lib/data.js'
import {emit, fmt, log, note, ratio} from './lib/out.js'

const KEYS = 'ADD KEY k_time (time_created_ns), ADD KEY k_message (message(16))'

interface Run {
  cloneSeconds: number
  waitSeconds: number
  rowsPerS: number
}

function splitOnce(rows: number, file: string, defer: boolean): Promise<Run> {
  const label = `defer-keys ${defer ? 'on' : 'off'}`
  return withBenchCluster([layoutFile('source.yaml'), layoutFile('split.yaml')], async (c) => {
    const conn = await c.connect('src-100', 'admin')
    try {
      await conn.query(`ALTER TABLE ${DATABASE}.${TABLE} ${KEYS}`)
    } finally {
      await conn.end()
    }
    const chunks = readChunks(file)
    await loadSource(c, 'src-100', ['src-102'], chunks, rows)
    chunks.length = 0
    const split = c.layoutFiles[1]!
    const target = join(dirname(split), `split-defer-${defer ? 'on' : 'off'}.yaml`)
    writeFileSync(
      target,
      readFileSync(split, 'utf8')
        .replace(/approvals:\n( {2}.*\n)+/, 'approvals:\n  default: none\n  phases:\n    diff: phase\n')
        .replace(/^shards:/m, `settings:\n  deferSecondaryKeys: ${defer}\nshards:`),
    )
    const r = await apply({
      store: c.store,
      runtime: dataPlaneRuntime(),
      target,
      noWait: true,
      ui: {confirm: async () => true},
    })
    if (r.state !== 'waiting') throw new Error(`${label}: apply ended ${r.state}, not at the gate before the diff`)
    const wf = await workflowOf(c.store)
    const clone = phaseTiming(wf, 'clone')
    const wait = phaseTiming(wf, 'wait_for_filtered_replication')
    const seconds = (wait.finishedAt - clone.startedAt) / 1000
    log(
      `${label}: clone ${clone.seconds.toFixed(1)} s, wait_for_filtered_replication ${wait.seconds.toFixed(1)} s: ${fmt(rows / seconds)} rows/s`,
    )
    return {cloneSeconds: clone.seconds, waitSeconds: wait.seconds, rowsPerS: rows / seconds}
  })
}

/** Mean of several runs; each kept for the detail. */
function mean(runs: Run[]): Run & {runsRowsPerS: number[]} {
  const avg = (f: (r: Run) => number) => Math.round((runs.reduce((a, r) => a + f(r), 0) / runs.length) * 100) / 100
  return {
    cloneSeconds: avg((r) => r.cloneSeconds),
    waitSeconds: avg((r) => r.waitSeconds),
    rowsPerS: avg((r) => r.rowsPerS),
    runsRowsPerS: runs.map((r) => Math.round(r.rowsPerS)),
  }
}

export async function deferKeysScenario(work: string, rows: number): Promise<void> {
  const file = join(work, 'defer-keys.rows')
  writeRowsFile(file, rowKeys(rows))
  // off, on, on, off: a drift in the machine's load (it is shared) weighs on both modes alike.
  const runs: Record<'on' | 'off', Run[]> = {on: [], off: []}
  for (const defer of [false, true, true, false]) runs[defer ? 'on' : 'off'].push(await splitOnce(rows, file, defer))
  const on = mean(runs.on)
  const off = mean(runs.off)
  emit({
    figure: 'copy_deferred_keys_rows_per_s',
    value: on.rowsPerS,
    unit: 'rows/s',
    baseline: 'the same split with the two secondary keys kept during the copy (deferSecondaryKeys: false)',
    baseline_value: off.rowsPerS,
    ratio: ratio(on.rowsPerS, off.rowsPerS),
    detail: {rows, on, off},
  })
  note(
    'deferred secondary keys',
    `${rows} rows with two secondary keys (${KEYS}), 1 → 2, two runs each (mean): keys kept ${off.cloneSeconds.toFixed(1)} s clone + ${off.waitSeconds.toFixed(1)} s wait; deferred ${on.cloneSeconds.toFixed(1)} s clone + ${on.waitSeconds.toFixed(1)} s adding the keys and waiting`,
  )
}
