// Planner speed: a 256 → 512 split, validating a 4096-shard layout, and `shardform plan` cold start.
// Prints one JSON line per figure. Run: npm run bench:plan
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {generateShards} from '../src/keyspace/keyrange.js'
import {parseLayout} from '../src/layout/index.js'
import {plan} from '../src/plan/index.js'
import {bootstrapRecords} from '../src/topo/init.js'
import type {KeyspaceState} from '../src/topo/state.js'

function layoutText(shards: string[], base: number): string {
  const lines = ['keyspace: bench', 'vschema: {sharded: true, vindexes: {h: {type: hash}}, tables: {t: {column_vindexes: [{column: id, name: h}]}}}', 'shards:']
  shards.forEach((name, i) => {
    const uid = base + i * 3
    lines.push(`  "${name}":`, '    tablets:')
    lines.push(`      - {alias: b-${uid}, type: primary, host: 10.${(uid >> 16) & 255}.${(uid >> 8) & 255}.${uid & 255}, port: 3306}`)
    lines.push(`      - {alias: b-${uid + 1}, type: replica, host: 10.${(uid >> 16) & 255}.${(uid >> 8) & 255}.${uid & 255}, port: 3307}`)
    lines.push(`      - {alias: b-${uid + 2}, type: rdonly, host: 10.${(uid >> 16) & 255}.${(uid >> 8) & 255}.${uid & 255}, port: 3308}`)
  })
  return lines.join('\n') + '\n'
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function time(fn: () => void, runs = 5): number {
  const t: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint()
    fn()
    t.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return median(t)
}

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify(o))

const from = parseLayout('256.yaml', layoutText(generateShards(256), 0))
const to = parseLayout('512.yaml', layoutText(generateShards(512), 100000))
const r = bootstrapRecords(from)
const state: KeyspaceState = {keyspace: r.keyspace, shards: r.shards, srvKeyspace: r.srvKeyspace, tablets: r.tablets, allTablets: r.tablets, activeWorkflows: []}
const p = plan(state, to)
emit({figure: 'plan_256_to_512_ms', value: +time(() => plan(state, to)).toFixed(1), tasks: p.summary.tasks, goal_ms: 100})

const text4096 = layoutText(generateShards(4096), 0)
emit({figure: 'validate_4096_shard_layout_ms', value: +time(() => parseLayout('4096.yaml', text4096)).toFixed(1), goal_ms: 100})

// Cold start: a fresh process planning against an embedded topology (baseline: `node -e 0` in the same run).
const dir = mkdtempSync(join(tmpdir(), 'sf-bench-plan-'))
const bin = new URL('../bin/run.js', import.meta.url).pathname
const env = {...process.env, SHARDFORM_TOPO: `file:${dir}`}
const guestbook = new URL('../plans/guestbook/', import.meta.url).pathname
execFileSync(bin, ['topo', 'init', `${guestbook}1-shard.yaml`], {env})
const cold = time(() => execFileSync(bin, ['plan', `${guestbook}2-shards.yaml`], {env, stdio: 'ignore'}), 7)
const node = time(() => execFileSync(process.execPath, ['-e', '0'], {stdio: 'ignore'}), 7)
emit({figure: 'plan_cold_start_ms', value: +cold.toFixed(0), baseline: 'node -e 0', baseline_ms: +node.toFixed(0), ratio: +(cold / node).toFixed(2), goal_ms: 500})
rmSync(dir, {recursive: true, force: true})
