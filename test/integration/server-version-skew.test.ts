// Version skew between shardform processes sharing an etcd topology (issue 12): a workflow record written in a newer
// record format than this code reads is left alone by a server (one log line per record version, naming the version
// to upgrade to) and refused by apply and approve, while status still shows it; records this version writes carry the
// format and version; `server list` shows each server's version and says so when live servers run different ones.
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {RECORD_FORMAT} from '../../src/engine/record-format.js'
import {register} from '../../src/server/registry.js'
import {workflowPath} from '../../src/topo/paths.js'
import type {TopoStore} from '../../src/topo/store.js'
import {SHARDFORM_VERSION} from '../../src/util/version.js'
import {assertBuilt, Cli, cliEnv, initGuestbook, KS, onlyWorkflow, runCli, TWO_SHARDS} from '../helpers/engine-cli.js'
import {startEtcd, type TestEtcd} from '../helpers/etcd.js'

let etcd: TestEtcd
let scratch: string
let store: TopoStore | undefined
const procs: Cli[] = []

beforeAll(async () => {
  assertBuilt()
  etcd = await startEtcd()
  scratch = await mkdtemp(join(tmpdir(), 'shardform-version-skew-'))
})

afterAll(async () => {
  for (const p of procs) if (!p.done) p.proc.kill('SIGKILL')
  await Promise.allSettled(procs.map((p) => p.exited))
  await store?.close()
  await etcd?.stop()
  await rm(scratch, {recursive: true, force: true})
})

const NEWER = RECORD_FORMAT + 1
const FUTURE = '99.0.0'

it(
  'a record in a newer format: the server leaves it alone saying what to upgrade, apply and approve refuse, status shows it',
  {timeout: 120_000},
  async () => {
    const url = etcd.newUrl()
    store = await initGuestbook(url)
    const env = cliEnv(url)
    const plan = join(scratch, 'split.plan')
    expect((await runCli(['plan', TWO_SHARDS, '--out', plan], env)).code).toBe(0)
    const created = await runCli(['apply', plan, '--no-wait'], env)
    expect(created.code, created.stderr).toBe(3)

    // What this version wrote carries the format and the version.
    const wf = await onlyWorkflow(store)
    const path = workflowPath(wf.id)
    const stored = (await store.get<Record<string, unknown>>(path))!
    expect(stored.value).toMatchObject({formatVersion: RECORD_FORMAT, writtenBy: SHARDFORM_VERSION})

    // A newer shardform rewrites it in a format this one does not read.
    const version = await store.update(path, {...stored.value, formatVersion: NEWER, writtenBy: FUTURE}, stored.version)

    const s1 = new Cli(['server', '--id', 's1', '--lock-ttl', '3'], env)
    procs.push(s1)
    const skipped = new RegExp(
      `not taking workflow ${wf.id}: its record cannot be read \\(it was written by shardform ${FUTURE.replaceAll('.', '\\.')} in record format ${NEWER}, and this server \\(shardform ${SHARDFORM_VERSION.replaceAll('.', '\\.')}\\) reads formats up to ${RECORD_FORMAT}: upgrade this server to shardform ≥ ${FUTURE.replaceAll('.', '\\.')}\\); leaving it alone`,
    )
    await s1.waitFor(skipped)
    // A later record (sorted after it) is logged only after the server looked at this one again: still one line.
    await store.create('workflows/zz-junk/Workflow', {id: 'zz-junk'})
    await s1.waitFor(/not taking workflow zz-junk: its record cannot be read \(it has no id or keyspace\)/)
    expect(s1.count(new RegExp(`not taking workflow ${wf.id}:`))).toBe(1)
    expect(await store.readLock(KS)).toBeUndefined()
    // The CLI does not guess at it either: one clear error naming the record (it used to be a TypeError).
    const damaged = await runCli(['status', '--json'], env)
    expect(damaged.code).toBe(1)
    expect(damaged.stderr).toContain('the workflow record workflows/zz-junk/Workflow')
    expect(damaged.stderr).toContain('is damaged: it has no id or keyspace')
    expect(damaged.stderr).not.toMatch(/TypeError|\n\s+at /)
    await store.delete('workflows/zz-junk/Workflow')

    // server list: its version; with a live server of another version, one line says so.
    const old = await register(store, {id: 's0-old', version: '0.0.1', ttlSeconds: 5})
    try {
      const list = await runCli(['server', 'list'], env)
      expect(list.code, list.stderr).toBe(0)
      expect(list.stdout).toMatch(new RegExp(`\\ns1 .* ${SHARDFORM_VERSION.replaceAll('.', '\\.')} `))
      const skew = list.stdout.split('\n').filter((l) => l.startsWith('Servers run different shardform versions'))
      expect(skew).toEqual([
        `Servers run different shardform versions: 0.0.1 (s0-old), ${SHARDFORM_VERSION} (s1); a workflow written in a newer record format is left to the servers that read it: upgrade s0-old to ${SHARDFORM_VERSION}.`,
      ])
      const json = JSON.parse((await runCli(['server', 'list', '--json'], env)).stdout) as {
        servers: {id: string; version: string}[]
        version_skew?: string
      }
      expect(json.servers.map((s) => [s.id, s.version])).toEqual([
        ['s0-old', '0.0.1'],
        ['s1', SHARDFORM_VERSION],
      ])
      expect(json.version_skew).toBe(skew[0])
    } finally {
      await old.release()
    }
    expect((await runCli(['server', 'list'], env)).stdout).not.toContain('different shardform versions')

    s1.proc.kill('SIGTERM')
    expect((await s1.exited).code).toBe(0)

    // status still shows it (read-only); apply (resuming in-process, no server live) and approve refuse it.
    const status = await runCli(['status', '--json'], env)
    expect(status.code, status.stderr).toBe(0)
    const doc = JSON.parse(status.stdout) as {workflows: {id: string; state: string}[]}
    expect(doc.workflows.find((w) => w.id === wf.id)).toMatchObject({state: 'waiting'})
    for (const args of [['apply'], ['approve', KS, '--phase', 'apply_vschema', '--first']]) {
      const r = await runCli(args, env)
      expect(r.code, `${args.join(' ')}: ${r.stdout}`).toBe(1)
      expect(r.stderr).toContain(`workflow record ${path} is left alone: it was written by shardform ${FUTURE}`)
      expect(r.stderr).toContain(`upgrade to shardform ≥ ${FUTURE}`)
      expect(r.stderr).not.toMatch(/\n\s+at /)
    }
    expect((await store.get(path))?.version).toBe(version)
  },
)
