// examples/ci: the workflow's plan step (plan.sh, the command line the workflow runs) against a committed snapshot.
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {expect, it} from 'vitest'
import {BIN, ROOT} from '../helpers/cli.js'

const SNAPSHOT = 'test/fixtures/guestbook-1-shard.topology.json'
const tmp = mkdtempSync(join(tmpdir(), 'sf-ci-'))

function planSh(layout: string, snapshot: string, out: string): Promise<number | null> {
  const p = spawn('sh', ['examples/ci/plan.sh', layout, snapshot, out], {
    cwd: ROOT,
    env: {...process.env, NO_COLOR: '1', SHARDFORM: `${process.execPath} ${BIN}`},
    stdio: 'ignore',
  })
  return new Promise((r) => p.on('close', r))
}

it('the workflow runs plan.sh with a layout and the snapshot beside it', () => {
  const yml = readFileSync(join(ROOT, 'examples/ci/shardform-plan.yml'), 'utf8')
  expect(yml).toContain('sh examples/ci/plan.sh "$layout" "$snapshot" plan.md')
  expect(yml).toContain('gh pr comment')
  expect(readFileSync(join(ROOT, 'examples/ci/plan.sh'), 'utf8')).toContain(
    'plan "$layout" --topo "file:$snapshot" --format markdown --detailed-exitcode',
  )
})

it('a layout change exits 2 and writes the markdown plan (estimates skipped: offline snapshot)', async () => {
  const out = join(tmp, 'plan.md')
  expect(await planSh('plans/guestbook/2-shards.yaml', SNAPSHOT, out)).toBe(2)
  const md = readFileSync(out, 'utf8')
  expect(md).toMatch(/^### shardform plan: reshard of keyspace test\\_keyspace\n\n\*\*Plan: 2 to create, 1 to retire/)
  expect(md).toContain('| + | shard | -80 | key range \\[min, 80); tablets test-200')
  expect(md).toContain('#### Estimates\n\nSkipped: planned against a topology snapshot, offline.')
  expect(md).toMatch(/<details><summary>Phases \(10, 14 tasks\)<\/summary>[\s\S]*<\/details>/)
  expect(md).toContain('```diff\n--- vschema (topology)\n+++ vschema (layout)\n')
})

it('no change exits 0; an error exits 1 with its message in the comment', async () => {
  const same = join(tmp, 'same.md')
  expect(await planSh('plans/guestbook/1-shard.yaml', SNAPSHOT, same)).toBe(0)
  expect(readFileSync(same, 'utf8')).toMatch(/^### shardform plan: no changes/)
  const bad = join(tmp, 'bad.md')
  expect(await planSh('plans/guestbook/2-shards.yaml', join(tmp, 'missing.json'), bad)).toBe(1)
  expect(readFileSync(bad, 'utf8')).toMatch(
    /^### shardform plan failed for plans\/guestbook\/2-shards\.yaml\n\n```\nError: .*no snapshot/,
  )
})
