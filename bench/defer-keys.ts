// Deferred secondary keys (issue 15, item 4): the same rows, on a source table with two secondary keys (one unique),
// cloned into the two split destinations with settings.deferSecondaryKeys off and on. Timed alike, from the clone's
// start to the end of wait_for_filtered_replication (which adds the deferred keys): what a reviewer waits for before
// the diff either way. Each run gets a fresh cluster.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {TestCluster} from '../test/helpers/cluster.js'
import {loadSource} from './copy.js'
import {cliOk, layoutFile, ROOT, session, startBenchCluster, stopBenchCluster, workflowOf} from './lib/cluster.js'
import {readChunks, rowKeys, writeRowsFile} from './lib/data.js'
import {emit, log, note, ratio} from './lib/out.js'

/** The cluster's split layout, stopping at the diff gate, with deferSecondaryKeys set as given. */
function layoutWith(c: TestCluster, defer: boolean): string {
  const text = readFileSync(c.layoutFiles[1]!, 'utf8')
    .replace(/approvals:\n(?: {2}.*\n)+/, 'approvals:\n  default: none\n  phases:\n    diff: phase\n')
    .replace(/^vschema: .*$/m, `vschema: ${join(ROOT, 'plans/guestbook/vschema.json')}`)
    .concat(`settings:\n  deferSecondaryKeys: ${defer}\n`)
  const out = join(c.dir, `split-defer-${defer}.yaml`)
  writeFileSync(out, text)
  return out
}

async function run(rows: number, file: string, defer: boolean): Promise<number> {
  let c: TestCluster | undefined
  try {
    c = await startBenchCluster([layoutFile('source.yaml'), layoutFile('split.yaml')])
    await loadSource(c, 'src-100', ['src-102'], readChunks(file), rows)
    const conn = await session(c, 'src-100', 'copy')
    try {
      await conn.query(
        'ALTER TABLE vt_test_keyspace.messages ADD UNIQUE KEY uk_time (time_created_ns, page), ADD KEY k_message (message(16))',
      )
    } finally {
      await conn.end()
    }
    const layout = layoutWith(c, defer)
    const plan = join(c.dir, `defer-${defer}.plan`)
    await cliOk(c, ['plan', layout, '--out', plan], [0, 2])
    await cliOk(c, ['apply', plan, '--no-wait'], [3])
    const wf = await workflowOf(c.store)
    const start = Date.parse(wf.tasks['clone/0']!.startedAt!)
    const end = Math.max(
      ...Object.values(wf.tasks)
        .filter((t) => t.id.startsWith('wait_for_filtered_replication/'))
        .map((t) => Date.parse(t.finishedAt!)),
    )
    const seconds = (end - start) / 1000
    const keysLog = wf.events.filter((e) => /deferred secondary key/.test(e.message)).map((e) => e.message)
    log(`deferSecondaryKeys ${defer}: clone to caught up in ${seconds.toFixed(1)} s ${keysLog.join('; ')}`)
    note(
      'Deferred secondary keys',
      `deferSecondaryKeys: ${defer}: ${seconds.toFixed(1)} s from the clone's start to caught up${keysLog.length ? ` (${keysLog.join('; ')})` : ''}`,
    )
    return seconds
  } finally {
    await stopBenchCluster(c)
  }
}

export async function deferKeysScenario(work: string, rows: number): Promise<void> {
  const file = join(work, `defer-keys-${rows}.tsv`)
  writeRowsFile(file, rowKeys(rows))
  const plain = await run(rows, file, false)
  const deferred = await run(rows, file, true)
  emit({
    figure: 'clone_with_two_secondary_keys_deferred_s',
    value: deferred,
    unit: 's',
    baseline: 'the same clone with the keys in place (deferSecondaryKeys: false)',
    baseline_value: plain,
    ratio: ratio(deferred, plain),
    goal: '< 1.0 (faster)',
    met: deferred < plain,
    detail: {rows},
  })
}
