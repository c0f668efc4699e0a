// `shardform server --listen` from the command line, without a cluster (file topology, the test runtime): it refuses
// a non-loopback address without --token-file and a token file others can read (exit 1, one paragraph, nothing
// started); with a good token file every API request needs a token; on loopback without one, requests must name a
// loopback host and state-changing ones come from no other Origin.
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {openTopo} from '../../src/topo/open.js'
import {hasStackTrace} from '../helpers/cli.js'
import {assertBuilt, Cli, cliEnv, runCli} from '../helpers/engine-cli.js'
import {Api, rawGet} from '../helpers/http.js'
import {freePort} from '../helpers/ports.js'

const TOKEN = 'ci-token-0123456789abcdef0123'
let dir: string
let topo: string
const procs: Cli[] = []

beforeAll(() => {
  assertBuilt()
  dir = mkdtempSync(join(tmpdir(), 'shardform-http-cli-'))
  topo = `file:${join(dir, 'topo')}`
})

afterAll(async () => {
  for (const p of procs) if (!p.done) p.proc.kill('SIGKILL')
  await Promise.allSettled(procs.map((p) => p.exited))
  rmSync(dir, {recursive: true, force: true})
})

function tokenFile(name: string, text: string, mode: number): string {
  const f = join(dir, name)
  writeFileSync(f, text)
  chmodSync(f, mode)
  return f
}

async function serversRegistered(): Promise<number> {
  const store = await openTopo(topo)
  try {
    return (await store.list('servers/')).length
  } finally {
    await store.close()
  }
}

async function refused(args: string[]): Promise<string> {
  const r = await runCli(['server', '--id', 'refused', ...args], cliEnv(topo))
  expect(r.code, r.stdout + r.stderr).toBe(1)
  expect(hasStackTrace(r.stderr)).toBe(false)
  expect(r.stdout).not.toMatch(/registered/)
  expect(await serversRegistered()).toBe(0)
  return r.stderr
}

function serve(args: string[]): Promise<{cli: Cli; api: (token?: string) => Api}> {
  const cli = new Cli(['server', '--id', `web-${procs.length}`, ...args], cliEnv(topo))
  procs.push(cli)
  return cli.waitFor(/on http:\/\/\S+:\d+\//, 30_000).then(() => {
    const port = /on http:\/\/\S+:(\d+)\//.exec(cli.stdout)![1]
    return {cli, api: (token?: string) => new Api(`http://127.0.0.1:${port}`, token)}
  })
}

describe('refusals at start', () => {
  it('a non-loopback address without --token-file: exit 1, a clear paragraph, nothing started', async () => {
    const port = await freePort()
    const err = await refused(['--listen', `0.0.0.0:${port}`])
    expect(err).toMatch(new RegExp(`not listening on 0\\.0\\.0\\.0:${port} without a token file`))
    expect(err).toMatch(/--token-file FILE/)
  })

  it('a token file other users can read (mode 0644) is refused; the token is not printed', async () => {
    const f = tokenFile('tokens-644', `ops: ${TOKEN}\n`, 0o644)
    const err = await refused(['--listen', `0.0.0.0:${await freePort()}`, '--token-file', f])
    expect(err).toContain(`${f} holds API tokens but other users can read it (mode 644); run: chmod 600 ${f}`)
    expect(err).not.toContain(TOKEN)
  })

  it('a malformed token file names the line and never echoes a token', async () => {
    const f = tokenFile('tokens-bad', `# ops\nops: ${TOKEN}\nshort: abc\n`, 0o600)
    const err = await refused(['--listen', `127.0.0.1:${await freePort()}`, '--token-file', f])
    expect(err).toContain(`${f}:3: the token of short is shorter than 16 characters`)
    expect(err).not.toContain(TOKEN)
    const spaced = tokenFile('tokens-spaced', `ops ${TOKEN}\n`, 0o600)
    const err2 = await refused(['--listen', `127.0.0.1:${await freePort()}`, '--token-file', spaced])
    expect(err2).toContain(`${spaced}:1: not a token line`)
    expect(err2).not.toContain(TOKEN)
  })

  it('--token-file without --listen is a usage error', async () => {
    const f = tokenFile('tokens-ok', `ops: ${TOKEN}\n`, 0o600)
    const err = await refused(['--token-file', f])
    expect(err).toMatch(/--listen/)
  })
})

describe('serving', () => {
  it('on 0.0.0.0 with a token file: every API request needs a token of the file', async () => {
    const f = tokenFile('tokens-any', `ops: ${TOKEN}\n`, 0o600)
    const {cli, api} = await serve(['--listen', '0.0.0.0:0', '--token-file', f])
    expect(cli.stdout).toContain(`bearer tokens from ${f}`)
    expect((await api().get('/api/v1/servers')).status).toBe(401)
    expect((await api('x'.repeat(20)).get('/api/v1/servers')).status).toBe(401)
    const ok = await api(TOKEN).get('/api/v1/servers')
    expect(ok.status).toBe(200)
    expect(ok.json.servers.map((s: {id: string}) => s.id)).toContain('web-0')
    // Reached by any host name once a token is required.
    const byName = await rawGet(`${api().base}/api/v1/servers`, {
      host: 'db-host.example:7780',
      authorization: `Bearer ${TOKEN}`,
    })
    expect(byName.status).toBe(200)
    const unknown = await api(TOKEN).post('/api/v1/workflows/nope/approve', {})
    expect(unknown.status).toBe(404)
    expect(unknown.json).toEqual({
      error: {
        code: 'unknown_workflow',
        message: expect.stringMatching(/workflow nope does not exist/),
        hint: expect.any(String),
      },
    })
    cli.proc.kill('SIGTERM')
    expect((await cli.exited).code).toBe(0)
  })

  it('on loopback without a token file: loopback host names only; POSTs from another Origin refused', async () => {
    const {cli, api} = await serve(['--listen', '127.0.0.1:0'])
    expect(cli.stdout).toContain('no token (loopback only)')
    const a = api()
    const list = await a.get('/api/v1/workflows')
    expect(list.status).toBe(200)
    expect(list.type).toMatch(/^application\/json/)
    expect(list.headers.get('cache-control')).toBe('no-store')
    const rebound = await rawGet(`${a.base}/api/v1/workflows`, {host: 'attacker.example'})
    expect(rebound.status).toBe(403)
    expect(rebound.json.error.code).toBe('forbidden_host')
    expect((await a.post('/api/v1/workflows/nope/retry', {}, {origin: 'http://attacker.example'})).status).toBe(403)
    expect((await a.post('/api/v1/workflows/nope/retry', {}, {origin: a.base})).status).toBe(404)
    expect((await a.post('/api/v1/workflows/nope/retry', {task: 1})).status).toBe(400)
    expect((await a.post('/api/v1/workflows/nope/retry', {task: 'x', force: true})).status).toBe(400)
    const metrics = await a.get('/metrics')
    expect(metrics.status).toBe(200)
    expect(metrics.text).toMatch(/^shardform_server_claims\{server="web-\d+"\} 0$/m)
    cli.proc.kill('SIGTERM')
    expect((await cli.exited).code).toBe(0)
  })
})
