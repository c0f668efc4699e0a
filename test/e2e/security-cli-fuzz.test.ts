// Property-based, through the built CLI (subprocesses, so fewer runs): `plan`, `show` and `apply --auto-approve` on
// hostile layouts and damaged plan files exit 1 with one clear `Error: …` paragraph and no stack trace, and apply
// leaves the topology exactly as it was (no workflow, no record changed): bad input is refused before any write.
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {loadLayout} from '../../src/layout/index.js'
import {loadPlanFile, plan, savePlan} from '../../src/plan/index.js'
import {initKeyspace} from '../../src/layout/init.js'
import {exportSnapshot, openTopo} from '../../src/topo/open.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {cli, hasStackTrace, ROOT, type CliResult} from '../helpers/cli.js'
import {
  BASE_LAYOUT,
  damage,
  format,
  layoutText,
  mutate,
  mutation,
  textDamage,
  weirdValue,
  type Mutation,
} from '../helpers/security-fuzz.js'

const GB = join(ROOT, 'plans/guestbook')
const dir = mkdtempSync(join(tmpdir(), 'sf-e2e-hostile-'))
const topo = `file:${join(dir, 'topo')}`
let planFile: string
let planText: string
let n = 0

beforeAll(async () => {
  // The CLI runs dist/: it must include the loader being tested.
  for (const [src, out] of [
    ['src/layout/source.ts', 'dist/layout/source.js'],
    ['src/cli/base.ts', 'dist/cli/base.js'],
    ['src/util/canonical.ts', 'dist/util/canonical.js'],
  ]) {
    const built = join(ROOT, out)
    if (!existsSync(built) || statSync(join(ROOT, src)).mtimeMs > statSync(built).mtimeMs + 1000)
      throw new Error(`dist/ is older than ${src}: run \`npm run build\` first (npm test does).`)
  }
  const store = await openTopo(topo)
  try {
    await initKeyspace(store, loadLayout(join(GB, '1-shard.yaml')))
    const state = await readKeyspaceState(store, 'test_keyspace')
    planFile = join(dir, 'reshard.plan')
    savePlan(planFile, plan(state, loadLayout(join(GB, '2-shards.yaml'))), state)
    planText = readFileSync(planFile, 'utf8')
  } finally {
    await store.close()
  }
})

afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** Every record of the topology, locks included; exported_at left out. */
async function snapshot(): Promise<string> {
  const store = await openTopo(topo)
  try {
    const snap = await exportSnapshot(store)
    const lock = await store.readLock('test_keyspace')
    return JSON.stringify({records: snap.records, lock: lock ?? null})
  } finally {
    await store.close()
  }
}

/** Exit 1; stderr one paragraph starting `Error: `; no stack trace, no --debug hint for input errors; nothing raw. */
function expectClearRefusal(r: CliResult, what: string): void {
  const info = `${what}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`
  expect(r.code, info).toBe(1)
  expect(r.stderr, info).toMatch(/^Error: \S/)
  expect(hasStackTrace(r.stderr + r.stdout), info).toBe(false)
  expect(r.stderr.trim(), info).not.toMatch(/\n\s*\n/)
  expect(r.stderr, info).not.toContain('--debug')
  expect(r.stderr, info).not.toMatch(
    /TypeError|RangeError|Maximum call stack|Cannot read propert|is not a function|is not iterable/,
  )
  expect(r.stderr, info).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/)
}

function writeInput(bytes: Buffer, ext: string): string {
  const file = join(dir, `in${n++}.${ext}`)
  writeFileSync(file, bytes)
  return file
}

/** A hostile layout that the loader refuses (a valid one would legitimately be planned and applied). */
const badLayout = fc
  .tuple(fc.array(mutation, {minLength: 1, maxLength: 3}), format, fc.array(textDamage, {maxLength: 2}))
  .map(([muts, fmt, dmg]) => damage(Buffer.from(layoutText(mutate(BASE_LAYOUT, muts), fmt, 2000)), dmg))
  .filter((bytes) => {
    const f = writeInput(bytes, 'yaml')
    try {
      loadLayout(f)
      return false
    } catch {
      return true
    }
  })

const planEdit: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({op: fc.constant('set' as const), at: fc.nat(), value: weirdValue}),
  fc.record({op: fc.constant('delete' as const), at: fc.nat()}),
)

/** A damaged saved plan that loadPlanFile refuses. */
const badPlan = fc
  .oneof(
    fc
      .array(planEdit, {minLength: 1, maxLength: 2})
      .map((edits) => Buffer.from(JSON.stringify(mutate(JSON.parse(planText), edits), null, 2) ?? 'null')),
    fc.array(textDamage, {minLength: 1, maxLength: 3}).map((dmg) => damage(Buffer.from(planText), dmg)),
  )
  .filter((bytes) => {
    const f = writeInput(bytes, 'plan')
    try {
      loadPlanFile(f)
      return false
    } catch {
      return true
    }
  })

const RUNS = Number(process.env.SHARDFORM_FUZZ_RUNS ?? 0)
const runs = (k: number) => ({numRuns: RUNS || k, endOnFailure: true})
const env = {SHARDFORM_TOPO: topo}

describe('hostile input through the CLI', () => {
  it('the base layout and the saved plan are good input (the properties start from valid files)', async () => {
    const f = writeInput(Buffer.from(layoutText(BASE_LAYOUT, 'yaml')), 'yaml')
    const r = await cli(['plan', f, '--detailed-exitcode'], {env})
    expect(r.code, r.stderr).toBe(2)
    const s = await cli(['show', planFile], {env})
    expect(s.code, s.stderr).toBe(0)
  })

  it('plan <hostile layout>: exit 1, one clear error', async () => {
    await fc.assert(
      fc.asyncProperty(badLayout, async (bytes) => {
        const f = writeInput(bytes, 'yaml')
        const r = await cli(['plan', f], {env})
        expectClearRefusal(r, `plan ${f}`)
        expect(r.stdout).toBe('')
      }),
      runs(10),
    )
  }, 120_000)

  it('show <damaged plan>: exit 1, one clear error', async () => {
    await fc.assert(
      fc.asyncProperty(badPlan, async (bytes) => {
        const f = writeInput(bytes, 'plan')
        expectClearRefusal(await cli(['show', f], {env}), `show ${f}`)
      }),
      runs(8),
    )
  }, 120_000)

  it('apply --auto-approve <hostile layout or damaged plan>: exit 1 and the topology is untouched', async () => {
    const before = await snapshot()
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          badLayout.map((b) => ({b, ext: 'yaml'})),
          badPlan.map((b) => ({b, ext: 'plan'})),
        ),
        async ({b, ext}) => {
          const f = writeInput(b, ext)
          expectClearRefusal(await cli(['apply', f, '--auto-approve'], {env}), `apply ${f}`)
          expect(await snapshot()).toBe(before)
        },
      ),
      runs(10),
    )
  }, 180_000)
})

describe('hostile input through the CLI: specific cases', () => {
  it('a saved plan edited by hand (one gate) is refused by apply; nothing is written', async () => {
    const before = await snapshot()
    const edited = JSON.parse(planText)
    edited.plan.phases.find((p: {name: string}) => p.name === 'migrate_primary').gate = 'none'
    const f = writeInput(Buffer.from(JSON.stringify(edited, null, 2)), 'plan')
    const r = await cli(['apply', f, '--auto-approve'], {env})
    expectClearRefusal(r, 'apply edited plan')
    expect(r.stderr).toContain('was modified after `shardform plan` saved it (checksum mismatch), so it is refused')
    expect(await snapshot()).toBe(before)
  })

  it('terminal escapes, NUL, invalid UTF-8 and deep nesting in a layout come out as one clean error', async () => {
    const before = await snapshot()
    const cases = [
      Buffer.from(
        layoutText(
          mutate(BASE_LAYOUT, [{op: 'name', target: 'shard', value: '\u001b]0;pwned\u0007\u001b[2J-80'}]),
          'json',
        ),
      ),
      Buffer.from(
        layoutText(
          mutate(BASE_LAYOUT, [{op: 'name', target: 'alias', value: "x`; DROP DATABASE vt_test_keyspace; -- '"}]),
          'yaml',
        ),
      ),
      Buffer.concat([
        Buffer.from('keyspace: test_keyspace\n'),
        Buffer.from([0xc3, 0x28, 0x00]),
        Buffer.from('\nshards: {}\n'),
      ]),
      Buffer.from(`keyspace: ${'['.repeat(50_000)}`),
    ]
    for (const b of cases) {
      const f = writeInput(b, 'yaml')
      for (const args of [
        ['plan', f],
        ['apply', f, '--auto-approve'],
      ])
        expectClearRefusal(await cli(args, {env}), args.join(' '))
    }
    expect(await snapshot()).toBe(before)
  })
})
