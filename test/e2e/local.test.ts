// The CLI as a subprocess (node bin/run.js, built by `npm test`): local up (starting etcd too) / status / down,
// topo init, schema load and exec, with generated passwords and the clear errors.
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, statSync, existsSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {processAlive as pidAlive} from '../../src/util/process.js'
import {guestbookFile, rewriteLayouts} from '../helpers/cluster.js'
import {freePort} from '../helpers/ports.js'

const ROOT = new URL('../../', import.meta.url).pathname
const BIN = join(ROOT, 'bin/run.js')

interface Out {
  code: number
  stdout: string
  stderr: string
}

let dir: string
let localDir: string
let env: NodeJS.ProcessEnv
let layouts: string[]

function sf(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Out> {
  return new Promise((resolve) => {
    execFile('node', [BIN, ...args], {env: {...env, ...extraEnv}, cwd: dir, timeout: 90_000}, (err, stdout, stderr) => {
      resolve({code: err ? ((err as {code?: number}).code ?? 1) : 0, stdout, stderr})
    })
  })
}

/**
 * The first `local up` of the folder, run once by whichever test needs the cluster first (the first test checks its
 * output): a test run alone still finds the cluster up.
 */
let firstUp: Promise<Out> | undefined
const upOnce = () => (firstUp ??= sf(['local', 'up', layouts[0]!, '--dir', localDir]))

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shardform-e2e-local-'))
  localDir = join(dir, 'local')
  layouts = await rewriteLayouts([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], join(dir, 'layouts'))
  env = {
    ...process.env,
    NO_COLOR: '1',
    SHARDFORM_TOPO: `etcd://127.0.0.1:${await freePort()}/e2e`,
    SHARDFORM_CREDENTIALS_FILE: join(dir, 'credentials.json'),
  }
  // Passwords set nowhere: `local up` generates them into the credentials file.
  for (const name of ['SHARDFORM_MYSQL_PASSWORD', 'SHARDFORM_ADMIN_PASSWORD', 'SHARDFORM_REPL_PASSWORD'])
    delete env[name]
})

afterAll(async () => {
  await sf(['local', 'down', '--dir', localDir, '--purge'])
  rmSync(dir, {recursive: true, force: true})
})

describe('shardform local / exec / schema load (CLI)', () => {
  it('local up starts etcd and the tablets, generating passwords into a 0600 credentials file', async () => {
    const up = await upOnce()
    expect(up.stderr).not.toMatch(/Error/)
    expect(up.code).toBe(0)
    expect(up.stdout).toMatch(/Started 3 of 3 tablet\(s\) in [\d.]+ s; etcd on 127\.0\.0\.1:\d+ started/)
    expect(up.stdout).toMatch(/test-101 +test_keyspace\/0 +replica .* started, replicating from test-100/)
    expect(up.stdout).toContain(
      `Generated passwords for SHARDFORM_REPL_PASSWORD, SHARDFORM_MYSQL_PASSWORD, SHARDFORM_ADMIN_PASSWORD; they are in ${join(dir, 'credentials.json')} (mode 0600)`,
    )
    const creds = join(dir, 'credentials.json')
    expect(statSync(creds).mode & 0o777).toBe(0o600)
    for (const pw of Object.values(JSON.parse(readFileSync(creds, 'utf8')) as Record<string, string>)) {
      expect(pw.length).toBeGreaterThanOrEqual(20)
      expect(up.stdout + up.stderr).not.toContain(pw)
    }

    const again = await sf(['local', 'up', layouts[0]!, '--dir', localDir])
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/All 3 tablet\(s\) already running/)
    expect(again.stdout).not.toMatch(/Generated passwords/)
  })

  it('local status shows every process, its role and replication health', async () => {
    await upOnce()
    const st = await sf(['local', 'status', '--dir', localDir, '--json'])
    expect(st.code).toBe(0)
    const s = JSON.parse(st.stdout)
    expect(s.etcd.state).toBe('running')
    expect(s.tablets.map((t: {alias: string; state: string}) => `${t.alias}:${t.state}`)).toEqual([
      'test-100:running',
      'test-101:running',
      'test-102:running',
    ])
    expect(s.tablets[1].replication).toMatchObject({ioRunning: 'Yes', sqlRunning: 'Yes'})
    const text = await sf(['local', 'status', '--dir', localDir])
    expect(text.stdout).toMatch(/test-102 +test_keyspace\/0 +rdonly +\d+ +\d+ +running +ON +ok from test-100/)
  })

  it('topo init, schema load and exec work against the running tablets', async () => {
    await upOnce()
    expect((await sf(['topo', 'init', layouts[0]!])).code).toBe(0)
    const schema = await sf(['schema', 'load', 'test_keyspace', join(ROOT, 'plans/guestbook/schema.sql')])
    expect(schema.code).toBe(0)
    expect(schema.stdout).toMatch(/^shard 0 \(test-100\): 1 statement\(s\) applied in \d+ ms$/m)

    const ins = await sf([
      'exec',
      'test-100',
      "INSERT INTO messages VALUES (18446744073709551615, 2, 'hi'), (1, 3, NULL)",
    ])
    expect(ins.code).toBe(0)
    expect(ins.stdout).toMatch(/OK on test-100: 2 row\(s\) affected/)
    let rows: unknown
    await sleep(300) // replication takes milliseconds; each CLI call costs a Node start
    for (let i = 0; i < 50; i++) {
      const sel = await sf([
        'exec',
        'test-101',
        'SELECT page, time_created_ns, message, UNHEX("00ff") AS b FROM messages ORDER BY page',
        '--json',
      ])
      expect(sel.code).toBe(0)
      rows = JSON.parse(sel.stdout).rows
      if ((rows as unknown[]).length === 2) break
      await sleep(100)
    }
    expect(rows).toEqual([
      ['1', '3', null, '0x00ff'],
      ['18446744073709551615', '2', 'hi', '0x00ff'],
    ])
    const table = await sf([
      'exec',
      'test-100',
      'SELECT page, message, CURRENT_USER() AS u FROM messages ORDER BY page',
    ])
    expect(table.stdout).toMatch(
      /^page +message +u\n1 +NULL +shardform@127\.0\.0\.1\n18446744073709551615 +hi +shardform@127\.0\.0\.1\n2 rows from test-100/m,
    )

    const bad = await sf(['exec', 'test-100', 'SELECT * FROM nope'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(
      /^Error: tablet test-100 \(127\.0\.0\.1:\d+\): Table 'vt_test_keyspace\.nope' doesn't exist/,
    )
    expect(bad.stderr).not.toMatch(/\n\s+at /)
    const missing = await sf(['exec', 'test-999', 'SELECT 1'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/tablet test-999 is not in the topology/)
  })

  it('refuses a port taken by another program, and a missing mariadbd, with clear errors', async () => {
    const taken = Number(/port: (\d+)/.exec(readFileSync(layouts[1]!, 'utf8'))![1])
    const srv = createServer()
    await new Promise<void>((r) => srv.listen(taken, '127.0.0.1', () => r()))
    try {
      const up = await sf(['local', 'up', layouts[1]!, '--dir', join(dir, 'busy')])
      expect(up.code).toBe(1)
      expect(up.stderr).toMatch(new RegExp(`port ${taken} of tablet test-200 is already in use`))
    } finally {
      srv.close()
    }
    const nobin = await sf(['local', 'up', layouts[1]!, '--dir', join(dir, 'nobin')], {
      SHARDFORM_MARIADBD: '/nonexistent/mariadbd',
    })
    expect(nobin.code).toBe(1)
    expect(nobin.stderr).toMatch(/mariadbd was not found.*install it with: apt-get install -y mariadb-server/)
  })

  it('local down stops exactly its processes; --purge removes the data', async () => {
    await upOnce()
    const state = JSON.parse(readFileSync(join(localDir, 'state.json'), 'utf8'))
    const pids = [state.etcd.pid, ...Object.values(state.tablets).map((t) => (t as {pid: number}).pid)]
    expect(pids.every(pidAlive)).toBe(true)
    const down = await sf(['local', 'down', '--dir', localDir])
    expect(down.code).toBe(0)
    expect(down.stdout).toMatch(/Stopped 4 process\(es\): etcd, test-100, test-101, test-102\./)
    expect(pids.some(pidAlive)).toBe(false)
    const st = await sf(['local', 'status', '--dir', localDir])
    expect(st.stdout).toMatch(/test-100 .* stopped/)
    expect(existsSync(join(localDir, 'test-100', 'data'))).toBe(true)
    const purge = await sf(['local', 'down', '--dir', localDir, '--purge'])
    expect(purge.code).toBe(0)
    expect(existsSync(localDir)).toBe(false)
  })
})
