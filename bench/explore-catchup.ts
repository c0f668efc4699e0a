// Filtered replication's catch-up in-process, without the CLI: a source and two destinations (already holding their
// rows), a backlog written on the source while no stream runs, then one Stream per destination from the position
// before it, timed until both reach the source's final position. Reports, per destination, the statements and
// handler calls the catch-up cost (SHOW GLOBAL STATUS deltas) and each process's CPU. Several rounds (a new backlog
// each) run on the same cluster. `node --cpu-prof --import tsx bench/explore-catchup.ts` profiles the applier.
//   tsx bench/explore-catchup.ts [--rows 200000] [--backlog 50000] [--rounds 2]
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {Session} from 'node:inspector/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import type {Connection} from 'mysql2/promise'
import {parseShardName} from '../src/keyspace/keyrange.js'
import {parseGtidPos, reached} from '../src/mysql/gtid.js'
import {ensureStateTables, readStream, writeStreamStart} from '../src/phases/streams/state.js'
import {Stream} from '../src/phases/streams/stream.js'
import {writeBacklog} from './lib/backlog.js'
import {
  globalStatus,
  gtidBinlogPos,
  layoutFile,
  pidOf,
  session,
  setInnodbSizes,
  startBenchCluster,
  stopAll,
} from './lib/cluster.js'
import {loadChunks, readChunks, rowKeys, splitByHalf, writeRowsFile} from './lib/data.js'
import {log} from './lib/out.js'
import {cpuSeconds} from './lib/proc.js'
import {summarizeProfile} from './lib/profile.js'

const {values: flags} = parseArgs({
  options: {
    rows: {type: 'string', default: '200000'},
    backlog: {type: 'string', default: '50000'},
    rounds: {type: 'string', default: '2'},
    profile: {type: 'string'},
    'buffer-pool-mb': {type: 'string'},
  },
})
if (flags['buffer-pool-mb']) setInnodbSizes({bufferPoolMb: Number(flags['buffer-pool-mb'])})
const ROWS = Number(flags.rows)
const BACKLOG = Number(flags.backlog)
const ROUNDS = Number(flags.rounds)
const DESTS = [
  {alias: 'dst-200', shard: '-80'},
  {alias: 'dst-300', shard: '80-'},
]
const STATUS =
  /^(Com_(insert|update|delete|replace|insert_select|commit|begin)|Questions|Bytes_received|Handler_(write|update|delete|read_key|read_rnd_next|read_next|commit|prepare)|Innodb_rows_(inserted|updated|deleted|read)|Innodb_buffer_pool_(reads|read_requests|wait_free|pages_flushed)|Innodb_data_(fsyncs|reads|writes)|Innodb_os_log_fsyncs|Binlog_cache_disk_use|Innodb_log_waits)$/

const status = (conn: Connection) => globalStatus(conn, STATUS)

async function main(): Promise<void> {
  const c = await startBenchCluster([layoutFile('source.yaml'), layoutFile('split.yaml')])
  const dir = mkdtempSync(join(tmpdir(), 'explore-catchup-'))
  try {
    const keys = rowKeys(ROWS)
    const file = join(dir, 'rows.tsv')
    writeRowsFile(file, keys)
    const chunks = readChunks(file)
    const src = await session(c, 'src-100', 'copy')
    await loadChunks(src, chunks)
    const parts = splitByHalf(chunks)
    const dests: Connection[] = []
    const [[create]] = (await src.query('SHOW CREATE TABLE vt_test_keyspace.messages')) as unknown as [
      Array<Record<string, string>>,
    ]
    for (let i = 0; i < DESTS.length; i++) {
      const d = await session(c, DESTS[i].alias, 'copy')
      await d.query('CREATE DATABASE IF NOT EXISTS vt_test_keyspace')
      await d.query(`USE vt_test_keyspace`)
      await d.query(String(create['Create Table']).replace('CREATE TABLE', 'CREATE TABLE IF NOT EXISTS'))
      await loadChunks(d, parts[i])
      await ensureStateTables(d)
      dests.push(d)
    }
    log(`loaded ${ROWS} rows into the source and the destinations their halves`)
    const writers: Connection[] = []
    for (let i = 0; i < 8; i++) writers.push(await c.connect('src-100', 'app', {multipleStatements: true}))
    const layout = c.layouts[1]!
    const groupDestinations = DESTS.map((d) => ({name: d.shard, kr: parseShardName(d.shard)}))
    for (let round = 0; round < ROUNDS; round++) {
      const before = await gtidBinlogPos(src)
      for (let i = 0; i < DESTS.length; i++) {
        const id = `test_keyspace/0->${DESTS[i].shard}`
        if (round === 0) await writeStreamStart(dests[i], id, 'wf', '0', before)
      }
      const backlog = await writeBacklog(writers, keys, BACKLOG, {seed: 7 + round})
      const final = parseGtidPos(await gtidBinlogPos(src))
      log(
        `round ${round + 1}: backlog ${backlog.rowChanges} row changes in ${backlog.transactions} transactions (${backlog.inserts}/${backlog.updates}/${backlog.deletes} i/u/d)`,
      )
      const st0 = await Promise.all(dests.map(status))
      const pids = DESTS.map((d) => pidOf(c, d.alias))
      const cpu0 = pids.map((p) => cpuSeconds(p) ?? 0)
      const prof = flags.profile && round === ROUNDS - 1 ? new Session() : undefined
      if (prof) {
        prof.connect()
        await prof.post('Profiler.enable')
        await prof.post('Profiler.start')
      }
      const me0 = process.cpuUsage()
      const t0 = Date.now()
      const streams = await Promise.all(
        DESTS.map((d) =>
          Stream.start({
            id: `test_keyspace/0->${d.shard}`,
            workflow: 'wf',
            database: layout.database,
            sourceShard: '0',
            source: c.tablet('src-100'),
            destinationShard: d.shard,
            destination: c.tablet(d.alias),
            destRange: parseShardName(d.shard),
            groupDestinations,
            vschema: layout.vschema,
            referenceTables: true,
          }),
        ),
      )
      for (;;) {
        const rows = await Promise.all(dests.map((d, i) => readStream(d, `test_keyspace/0->${DESTS[i].shard}`)))
        if (rows.every((r) => reached(parseGtidPos(r!.position), final))) break
        const failed = streams.find((s) => s.failure)
        if (failed) throw failed.failure
        await new Promise((r) => setTimeout(r, 20))
      }
      const seconds = (Date.now() - t0) / 1000
      const me = process.cpuUsage(me0)
      const cpu = pids.map((p, i) => (cpuSeconds(p) ?? 0) - cpu0[i])
      const st1 = await Promise.all(dests.map(status))
      if (prof) {
        const {profile} = await prof.post('Profiler.stop')
        writeFileSync(flags.profile!, JSON.stringify(profile))
        const s = summarizeProfile(flags.profile!, 25)
        log(`profile: ${s.totalMs} ms busy; modules ${JSON.stringify(s.modules)}`)
        for (const [f, ms] of s.functions) log(`  ${ms} ms ${f}`)
      }
      for (const s of streams) await s.stop()
      log(
        `round ${round + 1}: ${backlog.rowChanges} row changes in ${seconds.toFixed(2)} s = ${Math.round(backlog.rowChanges / seconds)}/s; CPU node ${((me.user + me.system) / 1e6 / seconds).toFixed(2)}, ${DESTS.map((d, i) => `${d.alias} ${(cpu[i] / seconds).toFixed(2)}`).join(', ')} cores`,
      )
      for (let i = 0; i < DESTS.length; i++) {
        const d: Record<string, number> = {}
        for (const k of Object.keys(st1[i])) if (st1[i][k] !== st0[i][k]) d[k] = st1[i][k] - (st0[i][k] ?? 0)
        log(`  ${DESTS[i].alias}: ${JSON.stringify(d)}`)
      }
    }
    for (const w of writers) await w.end()
    for (const d of dests) await d.end()
    await src.end()
  } finally {
    rmSync(dir, {recursive: true, force: true})
    await stopAll()
  }
}

await main()
