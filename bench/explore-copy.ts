// Where the copy's time goes (diagnostic, not part of `npm run bench`): shardform's copyTable (src/mysql/copy.ts)
// run in this process from a source primary with N bench rows,
//   - into two destinations that discard what they get (Node's own cost: read, route, encode),
//   - into the two real destinations with several chunk sizes,
//   - into one real destination (every row),
// each with the CPU of Node and of every mariadbd, beside LOAD DATA of the same rows from memory into a fresh instance.
//   tsx bench/explore-copy.ts [--rows 1000000] [--chunks 1,4,16] [--profile] [--redo-mb 256]
// --redo-mb: resize the InnoDB redo log of the destinations and the baseline instance first (the local cluster's is 4 MB).
import {parseArgs} from 'node:util'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Connection} from 'mysql2/promise'
import {copyTable, type CopyDestination} from '../src/mysql/copy.js'
import {describeSchema} from '../src/mysql/tables.js'
import {keyRangeFromJSON} from '../src/keyspace/keyrange.js'
import {copyRouter, placement} from '../src/phases/routing.js'
import type {VSchema} from '../src/keyspace/vschema.js'
import {GUESTBOOK_SCHEMA} from '../test/helpers/cluster.js'
import {BusySampler, pct} from './lib/busy.js'
import {layoutFile, pidOf, session, setProfileDir, startBenchCluster, stopAll} from './lib/cluster.js'
import {DATABASE, loadChunks, readChunks, rowKeys, TABLE, writeRowsFile} from './lib/data.js'
import {fmt, log} from './lib/out.js'
import {describeCpu, ProcSampler} from './lib/proc.js'
import {cloneWithCli, loadSource} from './copy.js'

const {values} = parseArgs({
  options: {
    rows: {type: 'string', default: '1000000'},
    chunks: {type: 'string', default: '1,4,16'},
    profile: {type: 'boolean'},
    'redo-mb': {type: 'string'},
  },
})
const ROWS = Number(values.rows)
const CHUNKS_MB = (values.chunks ?? '4').split(',').map(Number)
const VSCHEMA: VSchema = {
  sharded: true,
  vindexes: {hash: {type: 'hash'}},
  tables: {messages: {column_vindexes: [{column: 'page', name: 'hash'}]}},
} as unknown as VSchema

/** A destination that accepts LOAD DATA and throws the bytes away (it still drains the stream it is given). */
function nullDestination(alias: string): CopyDestination {
  const conn = {
    query: async (o: {infileStreamFactory?: () => AsyncIterable<Buffer>}) => {
      if (o.infileStreamFactory) for await (const _ of o.infileStreamFactory()) void _
      return [{affectedRows: 0}, []]
    },
  }
  return {conn: conn as unknown as Connection, alias}
}

const work = mkdtempSync(join(tmpdir(), 'shardform-explore-'))
process.once('SIGINT', () => void stopAll().finally(() => process.exit(130)))
try {
  const file = join(work, 'rows.tsv')
  writeRowsFile(file, rowKeys(ROWS))
  const chunks = readChunks(file)
  const c = await startBenchCluster([layoutFile('source.yaml'), layoutFile('split.yaml')])
  const b = await startBenchCluster([layoutFile('baseline.yaml')])
  await loadSource(c, 'src-100', ['src-102'], chunks, ROWS)
  for (const d of ['dst-200', 'dst-300']) {
    const conn = await c.connect(d, 'admin')
    await conn.query(GUESTBOOK_SCHEMA)
    await conn.end()
  }
  if (values['redo-mb']) {
    for (const [cl, alias] of [
      [c, 'dst-200'],
      [c, 'dst-300'],
      [b, 'base-200'],
    ] as const) {
      const conn = await session(cl, alias)
      await conn.query(`SET GLOBAL innodb_log_file_size = ${Number(values['redo-mb']) << 20}`)
      await conn.end()
    }
    log(`redo log of dst-200, dst-300 and base-200 resized to ${values['redo-mb']} MB`)
  }
  const pids = {
    'src-102 (read)': pidOf(c, 'src-102'),
    'dst-200': pidOf(c, 'dst-200'),
    'dst-300': pidOf(c, 'dst-300'),
    'base-200': pidOf(b, 'base-200'),
    'node (this process)': process.pid,
  }
  const src = await session(c, 'src-102', 'copy')
  const table = (await describeSchema(src, DATABASE)).tables.find((t) => t.name === TABLE)!
  const dests = [
    {name: '-80', kr: keyRangeFromJSON({start: '', end: '80'})},
    {name: '80-', kr: keyRangeFromJSON({start: '80', end: ''})},
  ]
  const router = copyRouter(placement(VSCHEMA, table, dests), table, dests)
  const one = copyRouter(placement(VSCHEMA, table, [dests[0]]), table, [dests[0]])

  const run = async (
    label: string,
    destinations: CopyDestination[],
    routeMany: typeof router.routeMany,
    chunkBytes?: number,
    busyOn: string[] = [],
    extra: Partial<Parameters<typeof copyTable>[0]> = {},
  ) => {
    for (const d of destinations)
      if (typeof (d.conn as {ping?: unknown}).ping === 'function')
        await d.conn.query(`TRUNCATE TABLE ${DATABASE}.${TABLE}`)
    const bconns = await Promise.all(busyOn.map((a) => session(c, a)))
    const busy = bconns.map((b) => new BusySampler(b, ['LOAD DATA%']).start())
    const sampler = new ProcSampler(pids, 100).start()
    const t0 = Date.now()
    const res = await copyTable({
      source: src,
      database: DATABASE,
      table,
      destinations,
      routeMany,
      extraSelect: router.extraSelect,
      chunkBytes,
      ...extra,
    })
    const t1 = Date.now()
    sampler.stop()
    await Promise.all(busy.map((b) => b.stop()))
    await Promise.all(bconns.map((b) => b.end()))
    const secs = (t1 - t0) / 1000
    log(
      `${label}: ${res.rows} rows in ${secs.toFixed(1)} s = ${fmt(res.rows / secs)} rows/s${busyOn.length ? `; executing LOAD DATA ${busyOn.map((a, i) => `${a} ${pct(busy[i].fraction(t0, t1))}`).join(', ')}` : ''}; CPU ${describeCpu(sampler.cpuBetween(t0, t1))}`,
    )
  }

  // LOAD DATA from memory into a fresh instance: the baseline of the copy figure.
  {
    const conn = await session(b, 'base-200', 'copy')
    const sampler = new ProcSampler(pids, 100).start()
    const t0 = Date.now()
    await loadChunks(conn, chunks)
    const t1 = Date.now()
    sampler.stop()
    log(
      `LOAD DATA of the rows file into base-200: ${fmt(ROWS / ((t1 - t0) / 1000))} rows/s; CPU ${describeCpu(sampler.cpuBetween(t0, t1))}`,
    )
    await conn.end()
  }
  await run(
    'copyTable → 2 discarding destinations (Node only: read, route, encode)',
    [nullDestination('null-a'), nullDestination('null-b')],
    router.routeMany,
  )
  const real = async () => [
    {conn: await session(c, 'dst-200', 'copy'), alias: 'dst-200'},
    {conn: await session(c, 'dst-300', 'copy'), alias: 'dst-300'},
  ]
  for (const mb of CHUNKS_MB) {
    const d = await real()
    await run(`copyTable → dst-200 + dst-300, ${mb} MB chunks`, d, router.routeMany, mb << 20, ['dst-200', 'dst-300'])
    for (const x of d) await x.conn.end()
  }
  {
    const d = [{conn: await session(c, 'dst-200', 'copy'), alias: 'dst-200'}]
    await run('copyTable → dst-200 only (every row), 4 MB chunks', d, one.routeMany, 4 << 20, ['dst-200'])
    await d[0].conn.end()
  }
  {
    // As the clone calls it: a checkpoint (here: one topology write) at every sync point, progress callbacks.
    const d = await real()
    let n = 0
    await run(
      "copyTable → dst-200 + dst-300, 4 MB chunks, with the clone's sync callbacks (a topology write each)",
      d,
      router.routeMany,
      4 << 20,
      ['dst-200', 'dst-300'],
      {
        onRows: (r) => void (n = r),
        onSync: async () => {
          const e = await c.store.get<Record<string, unknown>>('keyspaces/test_keyspace/Keyspace')
          if (e) await c.store.update('keyspaces/test_keyspace/Keyspace', e.value, e.version)
        },
        syncEveryBytes: 8 << 20,
      },
    )
    log(`  (sync every 8 MB instead of 64 MB, to make its cost visible; ${n} rows reported)`)
    for (const x of d) await x.conn.end()
  }
  // The same copy through the CLI (shardform apply: clone from the rdonly snapshot), then in-process once more.
  for (const d of ['dst-200', 'dst-300']) await c.query(d, `DROP TABLE ${DATABASE}.${TABLE}`)
  setProfileDir(values.profile ? join(work, 'profiles') : undefined)
  const cl = await cloneWithCli(
    c,
    c.layoutFiles[1],
    {'src-102 (rdonly, read)': 'src-102', 'dst-200': 'dst-200', 'dst-300': 'dst-300'},
    'clone via the CLI',
    ['dst-200', 'dst-300'],
  )
  for (const l of cl.profile ?? []) log(`  ${l}`)
  {
    const d = await real()
    await run('copyTable → dst-200 + dst-300, 4 MB chunks (again, after the CLI clone)', d, router.routeMany, 4 << 20, [
      'dst-200',
      'dst-300',
    ])
    for (const x of d) await x.conn.end()
  }
  await src.end()
} finally {
  await stopAll()
  rmSync(work, {recursive: true, force: true})
}
