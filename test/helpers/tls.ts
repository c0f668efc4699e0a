// TLS material and servers for tests: a CA and certificates made with the openssl CLI, and an etcd that serves only
// https with client-certificate authentication (the etcds:// topology).
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {LocalTls} from '../../src/local/index.js'
import type {TlsFiles} from '../../src/topo/records.js'
import {ETCD_BIN, type TestEtcd} from './etcd.js'
import {registerProcess} from './procs.js'
import {freePorts} from './ports.js'

export interface TestCerts {
  /** The folder holding every file (removed by remove()). */
  dir: string
  /** The CA that signed every certificate below. */
  ca: string
  /** An unrelated CA (to show a server certificate from elsewhere is refused). */
  otherCa: string
  /** MariaDB's server certificate (names: CertOptions.serverNames). */
  server: LocalTls
  /** etcd's server certificate (IP 127.0.0.1; server and client auth). */
  etcd: {cert: string; key: string}
  /** A client certificate (shardform's, for MySQL and etcd). */
  client: TlsFiles & {cert: string; key: string}
  /** A file of the folder by name (e.g. pem('nope.key')). */
  pem(name: string): string
  remove(): void
}

export interface CertOptions {
  /** subjectAltName entries of MariaDB's server certificate (default DNS:db.shardform.test only). */
  serverNames?: string[]
}

/** A CA, server certificates for MariaDB and etcd, a client certificate and another CA, in a new temporary folder. */
export function makeCertificates(opts: CertOptions = {}): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'sf-tls-'))
  const pem = (name: string) => join(dir, name)
  const openssl = (...args: string[]) => execFileSync('openssl', args, {cwd: dir, stdio: 'pipe'})
  const names = (opts.serverNames ?? ['DNS:db.shardform.test']).join(',')
  writeFileSync(pem('server.ext'), `subjectAltName=${names}\nextendedKeyUsage=serverAuth\n`)
  writeFileSync(pem('etcd.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n')
  writeFileSync(pem('client.ext'), 'extendedKeyUsage=clientAuth\n')
  const key = (file: string) => ['-newkey', 'rsa:2048', '-nodes', '-keyout', file]
  for (const ca of ['ca', 'other-ca'])
    openssl('req', '-x509', ...key(`${ca}.key`), '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=shardform test ${ca}`)
  for (const who of ['server', 'etcd', 'client']) {
    openssl('req', ...key(`${who}.key`), '-out', `${who}.csr`, '-subj', `/CN=shardform-${who}`)
    openssl(
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${who}.pem`,
      '-days',
      '2',
      '-extfile',
      `${who}.ext`,
    )
  }
  return {
    dir,
    ca: pem('ca.pem'),
    otherCa: pem('other-ca.pem'),
    server: {ca: pem('ca.pem'), cert: pem('server.pem'), key: pem('server.key')},
    etcd: {cert: pem('etcd.pem'), key: pem('etcd.key')},
    client: {ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key')},
    pem,
    remove: () => rmSync(dir, {recursive: true, force: true}),
  }
}

/** SHARDFORM_ETCD_CA/_CERT/_KEY for the client certificate. */
export function etcdTlsEnv(certs: TestCerts): Record<string, string> {
  return {SHARDFORM_ETCD_CA: certs.ca, SHARDFORM_ETCD_CERT: certs.client.cert, SHARDFORM_ETCD_KEY: certs.client.key}
}

/** Does the etcd on `port` answer /health over https with the client certificate? */
function healthy(port: number, certs: TestCerts): Promise<boolean> {
  return new Promise((res) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/health',
        timeout: 1000,
        servername: '', // no SNI for an IP address (RFC 6066)
        ca: readFileSync(certs.ca),
        cert: readFileSync(certs.client.cert),
        key: readFileSync(certs.client.key),
      },
      (r) => {
        let body = ''
        r.on('data', (d: Buffer) => (body += d.toString()))
        r.on('end', () => res(r.statusCode === 200 && body.includes('true')))
      },
    )
    req.on('error', () => res(false))
    req.on('timeout', () => {
      req.destroy()
      res(false)
    })
    req.end()
  })
}

/**
 * An etcd serving clients only over https, demanding a client certificate signed by the test CA (peers stay plain
 * http on loopback: one member). Its URLs are etcds://; connect with etcdTlsEnv(certs). Stop it in afterAll.
 */
export async function startTlsEtcd(certs: TestCerts): Promise<TestEtcd> {
  const [port, peer] = await freePorts(2)
  const data = join(certs.dir, `etcd-${port}`)
  const url = `https://127.0.0.1:${port}`
  const peerUrl = `http://127.0.0.1:${peer}`
  const args = [
    ...['--name', 'tls', '--data-dir', data],
    ...['--listen-client-urls', url, '--advertise-client-urls', url],
    ...['--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl],
    ...['--initial-cluster', `tls=${peerUrl}`, '--initial-cluster-state', 'new'],
    ...['--cert-file', certs.etcd.cert, '--key-file', certs.etcd.key, '--trusted-ca-file', certs.ca],
    '--client-cert-auth',
    ...['--log-level', 'error', '--heartbeat-interval', '50', '--election-timeout', '500'],
  ]
  let proc: ChildProcess | undefined
  const kill = async () => {
    const p = proc
    proc = undefined
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill('SIGKILL')
    await gone
  }
  const launch = async () => {
    let log = ''
    const p = spawn(ETCD_BIN, args, {stdio: ['ignore', 'ignore', 'pipe']})
    proc = p
    // A test that fails before stop() must not leave it running (procs.ts).
    registerProcess('etcd (TLS)', p)
    p.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
    let exited = false
    p.once('exit', () => (exited = true))
    const deadline = Date.now() + 20_000
    while (!(await healthy(port, certs))) {
      if (exited) throw new Error(`TLS etcd exited while starting: ${log.trim()}`)
      if (Date.now() > deadline) {
        await kill()
        throw new Error(`TLS etcd did not answer on ${url} within 20 s: ${log.trim()}`)
      }
      await sleep(50)
    }
  }
  await launch().catch(async (err: unknown) => {
    await kill()
    throw err
  })
  const newUrl = () => `etcds://127.0.0.1:${port}/t${randomBytes(4).toString('hex')}`
  return {
    url: newUrl(),
    clientUrl: url,
    port,
    newUrl,
    kill,
    restart: async () => {
      await kill()
      await launch()
    },
    stop: async () => {
      await kill()
      rmSync(data, {recursive: true, force: true})
    },
  }
}
