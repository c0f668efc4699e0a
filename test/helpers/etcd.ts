// A throwaway etcd (Debian etcd-server) on free 127.0.0.1 ports with its own data dir, for integration tests.
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {etcdArgs, etcdHealthy} from '../../src/local/etcd.js'
import {freePorts} from './ports.js'
import {registerCleanup, registerProcess} from './procs.js'

export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd'

export interface TestEtcd {
  /** Topology URL with a fresh root, so tests sharing one etcd do not see each other. */
  url: string
  /** http://127.0.0.1:P */
  clientUrl: string
  port: number
  /** A topology URL on this etcd with another fresh root. */
  newUrl(): string
  /** SIGKILL the server (data dir kept), like a crash. */
  kill(): Promise<void>
  /** Start it again on the same ports and data dir. */
  restart(): Promise<void>
  /** Kill it and remove its data dir. */
  stop(): Promise<void>
}

export async function startEtcd(): Promise<TestEtcd> {
  const [clientPort, peerPort] = await freePorts(2)
  const dir = await mkdtemp(join(tmpdir(), 'shardform-etcd-'))
  const name = `test-${clientPort}`
  const clientUrl = `http://127.0.0.1:${clientPort}`
  // Small and quick: tests run on two cores.
  const args = etcdArgs(name, join(dir, 'data'), clientPort, peerPort, {
    logLevel: 'error',
    heartbeatMs: 50,
    electionMs: 500,
    quotaMiB: 256,
  })
  let proc: ChildProcess | undefined
  let log = ''

  const launch = async () => {
    log = ''
    const p = spawn(ETCD_BIN, args, {stdio: ['ignore', 'ignore', 'pipe']})
    proc = p
    registerProcess(`etcd :${clientPort}`, p)
    p.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
    const exited = new Promise<never>((_, reject) =>
      p.once('exit', (code, sig) => reject(new Error(`etcd exited (${code ?? sig}) while starting: ${log.trim()}`))),
    )
    exited.catch(() => undefined)
    const deadline = Date.now() + 15_000
    for (;;) {
      const ok = await Promise.race([etcdHealthy(clientPort), exited])
      if (ok) return
      if (Date.now() > deadline) {
        p.kill('SIGKILL')
        throw new Error(`etcd did not answer on ${clientUrl} within 15 s: ${log.trim()}`)
      }
      await sleep(50)
    }
  }

  const kill = async () => {
    const p = proc
    proc = undefined
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill('SIGKILL')
    await gone
  }

  // A test that fails before stop() still gets its data dir removed (procs-setup.ts runs this after the file).
  const forget = registerCleanup(`etcd :${clientPort} and ${dir}`, async () => {
    await kill()
    await rm(dir, {recursive: true, force: true})
  })
  try {
    await launch()
  } catch (err) {
    await kill()
    await rm(dir, {recursive: true, force: true})
    forget()
    throw err
  }
  const root = () => `t${randomBytes(4).toString('hex')}`
  return {
    url: `etcd://127.0.0.1:${clientPort}/${root()}`,
    clientUrl,
    port: clientPort,
    newUrl: () => `etcd://127.0.0.1:${clientPort}/${root()}`,
    kill,
    restart: async () => {
      await kill()
      await launch()
    },
    stop: async () => {
      forget()
      await kill()
      await rm(dir, {recursive: true, force: true})
    },
  }
}
