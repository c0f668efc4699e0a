// The markdown plan view (plan --format markdown): a stored sample, and names escaped so they cannot break the markup.
import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {fenced, md, renderPlanMarkdown} from '../../src/cli/views/plan-markdown.js'
import {plan} from '../../src/plan/index.js'
import type {Plan, PlanEstimates, PreflightReport} from '../../src/plan/types.js'
import {GUESTBOOK, guestbook, stateOf} from '../helpers/state.js'

const SAMPLE = new URL('../fixtures/plan-guestbook.md', import.meta.url)

const estimates: PlanEstimates = {
  ran: true,
  method: 'information_schema',
  sources: [{shard: '0', rows: 40000, bytes: 4194304, tables: [{name: 'messages', rows: 40000, bytes: 4194304}]}],
  destinations: [
    {shard: '-80', rows: 30000, bytes: 3145728, share: 0.75},
    {shard: '80-', rows: 10000, bytes: 1048576, share: 0.25},
  ],
  skew: 1.5,
  sample: {rows: 2000},
  rates: {copy_rows_per_second: 100000, diff_rows_per_second: 250000, apply_rows_per_second: 1100, source: 'defaults'},
  write_rows_per_second: 0,
  durations: {copy_seconds: 0.4, catchup_seconds: 0, diff_seconds: 0.12},
}

const preflight: PreflightReport = {
  ran: true,
  checks: [
    {id: 'binlog_format', status: 'pass', target: 'test-100', summary: 'binlog_format is ROW'},
    {
      id: 'grants',
      status: 'fail',
      target: 'test-200',
      summary: 'user app lacks INSERT',
      fix: 'GRANT INSERT ON vt_test_keyspace.* TO app',
    },
  ],
}

/** The guestbook 1 → 2 shard reshard with a fixed file name, estimates and pre-flight results (deterministic). */
function samplePlan(): Plan {
  const p = plan(stateOf(guestbook('1-shard.yaml')), guestbook('2-shards.yaml'))
  p.desired.file = 'plans/guestbook/2-shards.yaml'
  for (const t of p.phases.flatMap((ph) => ph.tasks)) t.detail = t.detail.replace(GUESTBOOK, 'plans/guestbook/')
  p.estimates = estimates
  return p
}

describe('renderPlanMarkdown', () => {
  it('matches the stored sample (summary, changes, estimates, pre-flight, phases in <details>, vschema diff)', () => {
    expect(renderPlanMarkdown(samplePlan(), preflight)).toBe(readFileSync(SAMPLE, 'utf8'))
  })

  it('says why estimates were skipped, and renders no pre-flight section without results', () => {
    const p = samplePlan()
    p.estimates = {ran: false, skipped: '--offline'}
    const out = renderPlanMarkdown(p)
    expect(out).toContain('#### Estimates\n\nSkipped: --offline.')
    expect(out).not.toContain('Pre-flight')
  })

  it('a noop plan is one line', () => {
    const p = plan(stateOf(guestbook('2-shards.yaml')), guestbook('2-shards.yaml'))
    p.desired.file = '2-shards.yaml'
    expect(renderPlanMarkdown(p)).toBe(
      '### shardform plan: no changes\n\nKeyspace **test\\_keyspace** matches 2-shards.yaml.\n',
    )
  })
})

describe('escaping', () => {
  it('pipes, backticks, emphasis and HTML in names cannot break a table or inject markup', () => {
    expect(md('a|b')).toBe('a\\|b')
    expect(md('`x`')).toBe('\\`x\\`')
    expect(md('<img src=x onerror=alert(1)>')).toBe('&lt;img src=x onerror=alert(1)&gt;')
    expect(md('*_[x]~')).toBe('\\*\\_\\[x\\]\\~')
    expect(md('a\nb\u001b[31m')).toBe('a\\\\nb\\\\u001b\\[31m')
  })
  it('a fenced block is longer than any backtick run inside', () => {
    expect(fenced('diff', '+ ```x```')).toBe('````diff\n+ ```x```\n````')
    expect(fenced('diff', 'a\nb')).toBe('```diff\na\nb\n```')
  })
  it('a table name with a pipe stays in its cell in a rendered plan', () => {
    const p = samplePlan()
    p.changes[0].name = 'evil|name`<b>'
    const row = renderPlanMarkdown(p)
      .split('\n')
      .find((l) => l.includes('evil'))!
    expect(row).toBe('| ~ | vschema | evil\\|name\\`&lt;b&gt; | vschema becomes sharded |')
    expect(row.split(/(?<!\\)\|/).length).toBe(6)
  })
})
