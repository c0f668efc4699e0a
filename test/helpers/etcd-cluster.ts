// A throwaway etcd cluster of several members on free 127.0.0.1 ports (static --initial-cluster), for tests of a
// topology that must survive a member or the leader dying. Same binary and arguments as the one-member test etcd.
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {request} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {etcdArgs, etcdHealthy} from '../../src/local/etcd.js'
import {ETCD_BIN} from './etcd.js'
import {registerProcess} from './procs.js'
import {freePorts} from './ports.js'

export interface EtcdMember {
  name: string
  clientPort: number
  /** 127.0.0.1:clientPort, as it goes into an etcd:// URL. */
  host: string
  /** The running server, if any. */
  proc?: ChildProcess
}

export interface TestEtcdCluster {
  members: EtcdMember[]
  /** `etcd://h1:p1,h2:p2,…/<fresh root>` over `only` (default every member). */
  newUrl(only?: number[]): string
  /** Index of the member every running member names as its leader (waits for an election to settle). */
  leader(timeoutMs?: number): Promise<number>
  /** SIGKILL member i (data dir kept), like a crash; resolves once it is gone. */
  kill(i: number): Promise<void>
  /** Start every killed member again on its ports and data dir (it rejoins); waits until the cluster is healthy. */
  startStopped(): Promise<void>
  /** Kill every member and remove the data dirs. */
  stop(): Promise<void>
}

// Quick elections on a busy 2-core machine: the same tuning as the one-member test etcd.
const TUNING = {logLevel: 'error', heartbeatMs: 50, electionMs: 500, quotaMiB: 256}

export async function startEtcdCluster(size = 3): Promise<TestEtcdCluster> {
  const ports = await freePorts(size * 2)
  const dir = await mkdtemp(join(tmpdir(), 'shardform-etcd-cluster-'))
  const token = randomBytes(4).toString('hex')
  const members: Array<EtcdMember & {args: string[]; log: string}> = []
  const names = Array.from({length: size}, (_, i) => `m${i}-${token}`)
  const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[size + i]}`).join(',')
  for (let i = 0; i < size; i++) {
    const clientPort = ports[i]!
    const args = etcdArgs(names[i]!, join(dir, names[i]!), clientPort, ports[size + i]!, TUNING, initialCluster)
    members.push({
      name: names[i]!,
      clientPort,
      host: `127.0.0.1:${clientPort}`,
      args: [...args, '--initial-cluster-token', token],
      log: '',
    })
  }

  const launch = (m: (typeof members)[number]) => {
    m.log = ''
    const p = spawn(ETCD_BIN, m.args, {stdio: ['ignore', 'ignore', 'pipe']})
    m.proc = p
    registerProcess(`etcd member ${m.name}`, p)
    p.stderr!.on('data', (d: Buffer) => (m.log = (m.log + d.toString()).slice(-4000)))
  }

  const waitHealthy = async () => {
    const deadline = Date.now() + 30_000
    for (const m of members) {
      while (!(await etcdHealthy(m.clientPort))) {
        const p = m.proc
        if (!p || p.exitCode !== null || p.signalCode !== null)
          throw new Error(`etcd member ${m.name} exited while starting: ${m.log.trim()}`)
        if (Date.now() > deadline) throw new Error(`etcd member ${m.name} not healthy within 30 s: ${m.log.trim()}`)
        await sleep(50)
      }
    }
  }

  const kill = async (i: number) => {
    const m = members[i]!
    const p = m.proc
    m.proc = undefined
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill('SIGKILL')
    await gone
  }

  const stop = async () => {
    await Promise.all(members.map((_, i) => kill(i)))
    await rm(dir, {recursive: true, force: true})
  }

  // Members of a new cluster wait for each other: start them all, then wait.
  for (const m of members) launch(m)
  try {
    await waitHealthy()
  } catch (e) {
    await stop()
    throw e
  }

  return {
    members,
    newUrl: (only) =>
      `etcd://${(only ?? members.map((_, i) => i)).map((i) => members[i]!.host).join(',')}/t${randomBytes(4).toString('hex')}`,
    leader: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const running = members.filter((m) => m.proc)
        const st = await Promise.all(running.map((m) => memberStatus(m.clientPort)))
        const leader = st[0]?.leader
        const idx = members.findIndex((m) => m.proc && st[running.indexOf(m)]?.id === leader)
        if (leader && leader !== '0' && idx >= 0 && st.every((s) => s?.leader === leader)) return idx
        if (Date.now() > deadline)
          throw new Error(`no agreed etcd leader within ${timeoutMs} ms: ${JSON.stringify(st)}`)
        await sleep(100)
      }
    },
    kill,
    startStopped: async () => {
      for (const m of members) if (!m.proc) launch(m)
      await waitHealthy()
    },
    stop,
  }
}

/** A member's own id and the leader it knows, from etcd's maintenance status (its HTTP gateway), or undefined. */
function memberStatus(port: number): Promise<{id: string; leader: string} | undefined> {
  return new Promise((resolve) => {
    const req = request(
      {host: '127.0.0.1', port, path: '/v3/maintenance/status', method: 'POST', timeout: 2000},
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => {
          try {
            const j = JSON.parse(body) as {header?: {member_id?: string}; leader?: string}
            resolve(j.header?.member_id && j.leader ? {id: j.header.member_id, leader: j.leader} : undefined)
          } catch {
            resolve(undefined)
          }
        })
      },
    )
    req.on('error', () => resolve(undefined))
    req.on('timeout', () => {
      req.destroy()
      resolve(undefined)
    })
    req.end('{}')
  })
}
