// What a `shardform server` costs while its workflow waits at a gate (hours, in a code-review flow): CPU of a server
// holding a 256 → 512 split at its first gate beside one holding a 1 → 2 split, on etcd and on the file topology. No
// MariaDB: nothing runs before the first gate is approved.
import {spawn} from 'node:child_process'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {openTopo} from '../src/topo/open.js'
import {startEtcd} from '../test/helpers/etcd.js'
import {createLargeSplit} from '../test/helpers/large-split.js'
import {BIN, stopChild} from './lib/cluster.js'
import {emit, log, note, ratio} from './lib/out.js'
import {cpuSeconds} from './lib/proc.js'

const SETTLE_MS = 3_000
const MEASURE_MS = 15_000
const LARGE = 256

/** CPU (ms per s) of a server holding an n → 2n split at its first gate, over MEASURE_MS. */
async function idleCpu(url: string, shards: number): Promise<number> {
  const store = await openTopo(url)
  try {
    await createLargeSplit(store, shards)
  } finally {
    await store.close()
  }
  const server = spawn(process.execPath, [BIN, 'server', '--id', `idle-${shards}`], {
    env: {...process.env, SHARDFORM_TOPO: url},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  try {
    let out = ''
    await new Promise<void>((ok, fail) => {
      const seen = (d: Buffer) => {
        out += d.toString()
        if (/Waiting for approval/.test(out)) ok()
      }
      server.stdout!.on('data', seen)
      server.stderr!.on('data', seen)
      server.once('exit', (code) => fail(new Error(`server exited ${code} before the gate: ${out.slice(-2000)}`)))
    })
    await sleep(SETTLE_MS)
    const c0 = cpuSeconds(server.pid!)!
    await sleep(MEASURE_MS)
    return ((cpuSeconds(server.pid!)! - c0) * 1000) / (MEASURE_MS / 1000)
  } finally {
    await stopChild(server)
  }
}

export async function serverIdleScenario(work: string): Promise<void> {
  const etcd = await startEtcd()
  try {
    const backends = [
      {name: 'etcd', url: () => etcd.newUrl()},
      {name: 'file', url: (n: number) => `file:${join(work, `idle-topo-${n}`)}`},
    ]
    for (const b of backends) {
      const small = await idleCpu(b.url(1), 1)
      const large = await idleCpu(b.url(LARGE), LARGE)
      log(
        `server at a gate on ${b.name}: 1 → 2 ${small.toFixed(0)} ms/s, ${LARGE} → ${LARGE * 2} ${large.toFixed(0)} ms/s`,
      )
      note(
        'Server at a gate',
        `${b.name} topology: CPU of a server holding the workflow at its first gate, over ${MEASURE_MS / 1000} s: ` +
          `1 → 2 ${small.toFixed(0)} ms/s, ${LARGE} → ${LARGE * 2} ${large.toFixed(0)} ms/s`,
      )
      emit({
        figure: `server_idle_cpu_${LARGE}_to_${LARGE * 2}_${b.name}`,
        value: large,
        unit: 'CPU ms/s',
        baseline: `the same server holding a 1 → 2 split at the same gate (${b.name} topology)`,
        baseline_value: small,
        ratio: ratio(large, small),
      })
    }
  } finally {
    await etcd.stop()
  }
}
