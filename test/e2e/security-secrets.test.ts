// Secrets stay secret: a real 1 → 2 reshard through the CLI with distinctive passwords in the environment; then
// every output (stdout, stderr), the saved plan, the topology (current records, and etcd's own data files, which keep
// every revision ever written), the export, the load journal and every file of the local cluster (logs, my.cnf,
// state, binlogs, data files) are searched for each password: none is found. A credentials file other users can
// read is refused, naming the file and `chmod 600`.
import {randomBytes} from 'node:crypto'
import {chmodSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {REPL_PASSWORD_ENV} from '../../src/local/cluster.js'
import {cli, hasStackTrace, type CliResult} from '../helpers/cli.js'
import {expectPlanSchema} from '../helpers/plan-schema.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'

// Distinctive, and different from anything else in the files searched (so a hit is a leak, not a coincidence).
const PASSWORDS = {
  SHARDFORM_MYSQL_PASSWORD: `AppPw-${randomBytes(8).toString('hex')}-Zq`,
  SHARDFORM_ADMIN_PASSWORD: `AdmPw-${randomBytes(8).toString('hex')}-Zq`,
  [REPL_PASSWORD_ENV]: `RplPw-${randomBytes(8).toString('hex')}-Zq`,
}
// Set before the cluster starts: the test helper keeps values already in process.env.
Object.assign(process.env, PASSWORDS)

let c: TestCluster
const outputs: Array<{what: string; r: CliResult}> = []

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 0, schema: true})
  for (let i = 0; i < 50; i++) {
    await c.query(
      'test-100',
      'INSERT INTO vt_test_keyspace.messages (page, time_created_ns, message) VALUES (?, ?, ?)',
      [i + 1, i, `hello ${i}`],
    )
  }
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

async function run(
  args: string[],
  opts: {env?: Record<string, string | undefined>; code?: number} = {},
): Promise<CliResult> {
  const r = await cli(args, {env: {...c.env, ...opts.env}, timeoutMs: 300_000})
  outputs.push({what: args.join(' '), r})
  expect(r.code, `${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(opts.code ?? 0)
  return r
}

/** Every file under `dir` (symlinks not followed), with its bytes. */
function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, {withFileTypes: true})) {
    const p = join(dir, e.name)
    if (e.isDirectory()) yield* files(p)
    else if (e.isFile()) yield p
  }
}

/** etcd's data directory, from the command line of the process serving this cluster's topology. */
function etcdDataDir(port: number): string | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      if (!/etcd$/.test(readlinkSync(`/proc/${pid}/exe`))) continue
      if (!args.some((a) => a === `http://127.0.0.1:${port}`)) continue
      return args[args.indexOf('--data-dir') + 1]
    } catch {
      // not ours or gone
    }
  }
  return undefined
}

/** Where a password occurs, if anywhere: [place, excerpt]. Searches bytes (binary files too) in UTF-8 and UTF-16. */
function leaks(place: string, content: string | Buffer): string[] {
  const buf = Buffer.isBuffer(content) ? content : Buffer.from(content)
  const out: string[] = []
  for (const [name, pw] of Object.entries(PASSWORDS)) {
    for (const form of [Buffer.from(pw), Buffer.from(pw, 'utf16le'), Buffer.from(Buffer.from(pw).toString('base64'))]) {
      const at = buf.indexOf(form)
      if (at >= 0) out.push(`${place}: ${name} at byte ${at}`)
    }
  }
  return out
}

describe('passwords never leave the environment', () => {
  it('a whole reshard through the CLI writes no password anywhere', async () => {
    const dir = c.dir
    const planFile = join(dir, 'reshard.plan')
    const exportFile = join(dir, 'export.json')
    const journal = join(dir, 'load.journal')
    await run(['plan', c.layoutFiles[1], '--out', planFile])
    // Estimates connect to the tablets: their JSON follows the schema and carries no password either.
    const planned = expectPlanSchema(JSON.parse((await run(['plan', c.layoutFiles[1], '--json', '--exact'])).stdout))
    expect(planned.estimates).toMatchObject({ran: true, method: 'exact'})
    await run(['plan', c.layoutFiles[1], '--format', 'markdown'])
    await run(['show', planFile])
    expectPlanSchema(JSON.parse((await run(['show', planFile, '--json'])).stdout))
    await run(['show', planFile, '--format', 'markdown'])
    await run(['load', 'test_keyspace', '--duration', '1', '--rate', '40', '--journal', journal, '--json'])
    await run(['apply', planFile, '--auto-approve'])
    await run(['status'])
    await run(['status', 'test_keyspace', '--json'])
    await run(['history', 'test_keyspace'])
    await run(['history', 'test_keyspace', '--json'])
    await run(['topo', 'show'])
    await run(['topo', 'show', '--json'])
    await run(['topo', 'export', '--out', exportFile])
    await run(['load', 'verify', '--journal', journal, 'test_keyspace', '--json'])
    await run(['exec', 'test-200', 'SELECT COUNT(*) FROM messages', '--json'])
    await run(['exec', 'test-300', 'SELECT CURRENT_USER()', '--app'])
    await run(['local', 'status', '--dir', join(dir, 'local'), '--json'])
    // Failures print the user and the variable, never the password: a wrong one, and a missing one.
    const wrong = await run(['exec', 'test-200', 'SELECT 1'], {
      env: {SHARDFORM_ADMIN_PASSWORD: `${PASSWORDS.SHARDFORM_ADMIN_PASSWORD}-wrong`},
      code: 1,
    })
    expect(wrong.stderr).toMatch(/Access denied for user 'shardform'/)
    expect(wrong.stderr).not.toContain('-wrong')
    const missing = await run(['exec', 'test-200', 'SELECT 1'], {env: {SHARDFORM_ADMIN_PASSWORD: undefined}, code: 1})
    expect(missing.stderr).toMatch(
      /^Error: no password for the admin user "shardform" of tablet test-200: set the environment variable SHARDFORM_ADMIN_PASSWORD, or add "SHARDFORM_ADMIN_PASSWORD" to \S+ \(mode 0600\)\n$/,
    )
    expect(hasStackTrace(missing.stderr)).toBe(false)

    const found: string[] = []
    for (const {what, r} of outputs)
      found.push(...leaks(`stdout of ${what}`, r.stdout), ...leaks(`stderr of ${what}`, r.stderr))
    found.push(
      ...leaks('saved plan', readFileSync(planFile)),
      ...leaks('topology export', readFileSync(exportFile)),
      ...leaks('load journal', readFileSync(journal)),
    )
    // Every record in the topology now…
    const records = await c.store.list('')
    expect(records.length).toBeGreaterThan(10)
    for (const e of records) found.push(...leaks(`topology record ${e.path}`, JSON.stringify(e.value)))
    // …and every revision etcd ever stored (its WAL and database files).
    const etcdDir = etcdDataDir(c.etcd!.port)
    expect(etcdDir, 'etcd data dir').toBeTruthy()
    let etcdFiles = 0
    for (const f of files(etcdDir!)) {
      etcdFiles++
      found.push(...leaks(`etcd file ${f}`, readFileSync(f)))
    }
    expect(etcdFiles).toBeGreaterThan(0)
    // Every file of the local cluster: logs, my.cnf, state.json, binlogs, relay logs, table files. MariaDB itself keeps
    // the replication password in each replica's master.info (CHANGE MASTER TO); that file is the one exception.
    let searched = 0
    for (const f of files(dir)) {
      if (f.endsWith('/data/master.info') || f === planFile || f === exportFile || f === journal) continue
      if (statSync(f).size > 256 * 1024 * 1024) continue
      searched++
      found.push(...leaks(f.slice(dir.length + 1), readFileSync(f)))
    }
    expect(searched).toBeGreaterThan(100)
    expect(found).toEqual([])
    // The search does find a password where one is (positive control: master.info, kept by MariaDB by design).
    const masterInfo = [...files(dir)].find((f) => f.endsWith('/data/master.info'))
    expect(masterInfo).toBeTruthy()
    expect(leaks('master.info', readFileSync(masterInfo!))).toEqual([
      `master.info: ${REPL_PASSWORD_ENV} at byte ${readFileSync(masterInfo!).indexOf(PASSWORDS[REPL_PASSWORD_ENV])}`,
    ])

    // The reshard really happened (the outputs above are those of a real run).
    const st = JSON.parse(outputs.find((o) => o.what === 'status test_keyspace --json')!.r.stdout)
    expect(st.workflows[0].state).toBe('done')
  }, 400_000)

  it('a credentials file other users can read is refused, naming the file and chmod 600; at 0600 it is used', async () => {
    const file = join(c.dir, 'creds.json')
    writeFileSync(file, JSON.stringify({SHARDFORM_ADMIN_PASSWORD: PASSWORDS.SHARDFORM_ADMIN_PASSWORD}), {mode: 0o644})
    chmodSync(file, 0o644)
    const env = {SHARDFORM_ADMIN_PASSWORD: undefined, SHARDFORM_CREDENTIALS_FILE: file}
    const open = await run(['exec', 'test-200', 'SELECT 1'], {env, code: 1})
    expect(open.stderr).toBe(
      `Error: ${file} holds passwords but other users can read it (mode 644); run: chmod 600 ${file}\n`,
    )
    chmodSync(file, 0o640)
    expect((await run(['exec', 'test-200', 'SELECT 1'], {env, code: 1})).stderr).toContain(`run: chmod 600 ${file}`)
    chmodSync(file, 0o600)
    const ok = await run(['exec', 'test-200', 'SELECT 1 AS one', '--json'], {env})
    expect(ok.stdout).toContain('"one"')
    for (const {what, r} of outputs.slice(-3)) expect(leaks(what, r.stdout + r.stderr)).toEqual([])
  })
})
