// An update_tablets plan applied on a real cluster: shard 0 keeps its key range, a replica is added (its server runs
// already, replicating) and the rdonly's port in the topology is corrected to the one its server listens on. After the
// apply the records are the layout's, each points at a server that answers as that tablet, and a new plan is empty.
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import {loadLayout} from '../../src/layout/index.js'
import {connectTablet} from '../../src/mysql/connect.js'
import {dataPlaneRuntime} from '../../src/phases/index.js'
import {plan} from '../../src/plan/index.js'
import {initKeyspace} from '../../src/layout/init.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'

let c: TestCluster
let full: string
const KS = 'test_keyspace'

beforeAll(async () => {
  // Shard 0 with a second replica, test-103: every server of it runs; the topology starts without test-103 and with
  // test-102 on a port nothing listens on.
  const text = readFileSync(guestbookFile('1-shard.yaml'), 'utf8').replace(
    /^(.*alias: test-101.*)\n/m,
    (line) => `${line}${line.replace('test-101', 'test-103').replace(/port: \d+/, 'port: 17103')}`,
  )
  const tmp = mkdtempSync(join(tmpdir(), 'shardform-update-tablets-'))
  const src = join(tmp, '1-shard.yaml')
  writeFileSync(src, text)
  try {
    c = await startTestCluster([src])
  } finally {
    rmSync(tmp, {recursive: true, force: true})
  }
  full = c.layoutFiles[0]
  const l = loadLayout(full)
  const port102 = l.shards[0]!.tablets.find((t) => t.alias === 'test-102')!.port
  const old = join(c.dir, 'old.yaml')
  writeFileSync(
    old,
    readFileSync(full, 'utf8')
      .replace(/^.*alias: test-103.*\n/m, '')
      .replace(`port: ${port102}`, `port: ${port102 === 1 ? 2 : 1}`),
  )
  await initKeyspace(c.store, loadLayout(old))
}, 180_000)

afterAll(async () => {
  await c?.stop()
})

describe('update_tablets', () => {
  it('adds a replica and corrects a port; the records reach the running servers; a new plan is empty', async () => {
    const before = await readKeyspaceState(c.store, KS)
    const p = plan(before, loadLayout(full))
    expect(p.phases.map((ph) => ph.name)).toEqual(['update_tablets'])
    expect(p.changes.map((ch) => `${ch.action} ${ch.kind} ${ch.name}`).sort()).toEqual([
      'create tablet test-103',
      'update tablet test-102',
    ])

    const r = await apply({store: c.store, runtime: dataPlaneRuntime(), target: full, autoApprove: true})
    expect(r.state === 'failed' ? r.failed.map((t) => `${t.id}: ${t.error}`) : r.state).toBe('done')

    const after = await readKeyspaceState(c.store, KS)
    const want = loadLayout(full).shards[0]!.tablets
    expect(after!.tablets.map((t) => `${t.alias}:${t.type}:${t.port}`).sort()).toEqual(
      want.map((t) => `${t.alias}:${t.type}:${t.port}`).sort(),
    )
    // Each record reaches the server of that tablet (server_id is the port in the local cluster).
    for (const t of after!.tablets) {
      const conn = await connectTablet(t, 'admin')
      try {
        const [[row]] = (await conn.query('SELECT @@server_id AS id, @@read_only AS ro')) as unknown as [
          Array<{id: number; ro: number}>,
        ]
        expect(Number(row!.id), t.alias).toBe(t.port)
        expect(Number(row!.ro), t.alias).toBe(t.type === 'primary' ? 0 : 1)
      } finally {
        await conn.end()
      }
    }
    expect(plan(after, loadLayout(full)).phases).toEqual([])
  })
})
