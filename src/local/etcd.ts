// A local etcd (Debian etcd-server) for an `etcd://127.0.0.1:<port>/…` topology that nothing answers yet.
import {spawn} from 'node:child_process'
import {closeSync, openSync} from 'node:fs'
import {mkdir} from 'node:fs/promises'
import {request} from 'node:http'
import {join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {ShardformError} from '../errors.js'
import {parseTopoUrl} from '../topo/open.js'
import {findExecutable} from './proc.js'
import {processAlive} from '../util/process.js'

export const ETCD_INSTALL_HINT = 'install it with: apt-get install -y etcd-server'

/** The client port when `url` names an etcd on this machine's loopback (the only kind `local up` may start). */
export function localEtcdPort(url: string | undefined): number | undefined {
  if (!url) return undefined
  const loc = parseTopoUrl(url)
  if (loc.kind !== 'etcd') return undefined
  const m = /^etcd:\/\/([^/]+)\//.exec(loc.url)
  const hosts = m?.[1]?.split(',') ?? []
  if (hosts.length !== 1) return undefined
  const hm = /^(127\.0\.0\.1|localhost):(\d+)$/.exec(hosts[0])
  return hm ? Number(hm[2]) : undefined
}

export function findEtcd(): string {
  const override = process.env.ETCD_BIN || process.env.SHARDFORM_ETCD
  const bin = findExecutable('etcd', override ? [override] : ['/usr/bin/etcd'])
  if (!bin) throw new ShardformError(`etcd was not found (looked in /usr/bin and $PATH): ${ETCD_INSTALL_HINT}`)
  return bin
}

/** True when an etcd serves a healthy /health on 127.0.0.1:port. */
export function etcdHealthy(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((res) => {
    const req = request({host: '127.0.0.1', port, path: '/health', timeout: timeoutMs}, (r) => {
      let body = ''
      r.on('data', (d: Buffer) => (body += d.toString()))
      r.on('end', () => res(r.statusCode === 200 && body.includes('true')))
    })
    req.on('error', () => res(false))
    req.on('timeout', () => {
      req.destroy()
      res(false)
    })
    req.end()
  })
}

/** A one-member etcd cluster on 127.0.0.1 (the local cluster's and the tests'), or one member of `initialCluster`. */
export function etcdArgs(
  name: string,
  dataDir: string,
  clientPort: number,
  peerPort: number,
  tuning: {logLevel: string; heartbeatMs: number; electionMs: number; quotaMiB: number},
  initialCluster?: string,
): string[] {
  const clientUrl = `http://127.0.0.1:${clientPort}`
  const peerUrl = `http://127.0.0.1:${peerPort}`
  return [
    '--name',
    name,
    '--data-dir',
    dataDir,
    '--listen-client-urls',
    clientUrl,
    '--advertise-client-urls',
    clientUrl,
    '--listen-peer-urls',
    peerUrl,
    '--initial-advertise-peer-urls',
    peerUrl,
    '--initial-cluster',
    initialCluster ?? `${name}=${peerUrl}`,
    '--initial-cluster-state',
    'new',
    '--log-level',
    tuning.logLevel,
    '--heartbeat-interval',
    String(tuning.heartbeatMs),
    '--election-timeout',
    String(tuning.electionMs),
    '--quota-backend-bytes',
    String(tuning.quotaMiB * 1024 * 1024),
    // Every write of a workflow record is kept until compaction: without it a long reshard fills the quota.
    '--auto-compaction-mode',
    'periodic',
    '--auto-compaction-retention',
    '1h',
  ]
}

export interface LocalEtcd {
  pid: number
  clientPort: number
  peerPort: number
  dataDir: string
  log: string
}

/** Start etcd detached with its data under `dir`; waits until it is healthy. */
export async function startLocalEtcd(
  dir: string,
  clientPort: number,
  peerPort: number,
  timeoutMs = 15_000,
): Promise<LocalEtcd> {
  const bin = findEtcd()
  const base = resolve(dir)
  const dataDir = join(base, 'data')
  const log = join(base, 'etcd.log')
  await mkdir(base, {recursive: true, mode: 0o700})
  const name = 'shardform-local'
  const fd = openSync(log, 'a')
  let exited: number | null | undefined
  let pid: number | undefined
  try {
    const tuning = {logLevel: 'warn', heartbeatMs: 100, electionMs: 1000, quotaMiB: 512}
    const child = spawn(bin, etcdArgs(name, dataDir, clientPort, peerPort, tuning), {
      detached: true,
      stdio: ['ignore', fd, fd],
    })
    child.once('exit', (code) => (exited = code ?? -1))
    child.once('error', () => (exited = -1))
    child.unref()
    pid = child.pid
  } finally {
    closeSync(fd)
  }
  if (!pid) throw new ShardformError(`could not start ${bin}; see ${log}`)
  const deadline = Date.now() + timeoutMs
  while (!(await etcdHealthy(clientPort, 500))) {
    if (exited !== undefined || !processAlive(pid))
      throw new ShardformError(`etcd exited while starting on 127.0.0.1:${clientPort}; see ${log}`)
    if (Date.now() > deadline)
      throw new ShardformError(
        `etcd (pid ${pid}) did not become healthy on 127.0.0.1:${clientPort} within ${timeoutMs / 1000} s; see ${log}`,
      )
    await sleep(50)
  }
  return {pid, clientPort, peerPort, dataDir, log}
}
