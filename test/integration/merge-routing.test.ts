// A merge -80, 80- → 0 that also makes the vschema unsharded (going back from the guestbook's 2 shards to 1), stopped
// at its migrate_primary gate: replica and rdonly reads are on shard 0 already, primary traffic is still on the two
// old shards. The router routes every tablet type by the keyspace's one vschema, so until the cutover it must still be
// the sharded one: an UPDATE of an existing row sent through the router must reach the shard that holds it. (With the
// unsharded vschema stored first, everything went to -80 and updates of rows on 80- matched nothing.)
import type {ResultSetHeader} from 'mysql2'
import {afterAll, beforeAll, expect, it} from 'vitest'
import {apply} from '../../src/engine/apply.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {Router} from '../../src/routing/router.js'
import {dataPlaneSettings, failures} from '../helpers/apply.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import {KS, gatedLayout} from '../helpers/fault-cluster.js'

const ROWS = 200
let c: TestCluster
let router: Router | undefined

beforeAll(async () => {
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {init: 1, schema: true})
  router = await Router.open({store: c.store, keyspace: KS, role: 'admin'})
  for (let page = 1; page <= ROWS; page++)
    await router.execute('messages', page, 'INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)', [
      page,
      page,
      `row ${page}`,
    ])
  await c.waitReplication()
}, 180_000)

afterAll(async () => {
  await router?.close()
  await c?.stop()
})

it(
  'until the primary cutover the router keeps the sharded vschema: every update reaches its row',
  {timeout: 240_000},
  async () => {
    const onShard = async (alias: string) =>
      Number((await c.query<{n: number}>(alias, 'SELECT COUNT(*) AS n FROM messages'))[0]!.n)
    // Both old shards hold rows: an update routed to the wrong one would match nothing.
    expect(await onShard('test-200')).toBeGreaterThan(0)
    expect(await onShard('test-300')).toBeGreaterThan(0)

    const layout = gatedLayout(c, 0, '1-shard-stop-primary.yaml', 'default: none\nphases:\n  migrate_primary: phase')
    const first = await apply({...dataPlaneSettings(c.store, {noWait: true}), target: layout})
    expect(first.state, failures(first).join('\n')).toBe('waiting')
    const wf = (first as {wf: WorkflowRecord}).wf
    const order = wf.plan.phases.map((ph) => ph.name)
    expect(order.indexOf('apply_vschema')).toBe(order.indexOf('migrate_primary') + 1)
    const st = (await readKeyspaceState(c.store, KS))!
    expect(st.srvKeyspace.partitions.replica).toEqual(['0'])
    expect(st.srvKeyspace.partitions.primary).toEqual(['-80', '80-'])
    expect(st.keyspace.vschema.sharded).toBe(true)

    const missed: number[] = []
    for (let page = 1; page <= ROWS; page++) {
      const r = await router!.execute<ResultSetHeader>(
        'messages',
        page,
        'UPDATE messages SET message = ? WHERE page = ?',
        [`updated ${page}`, page],
      )
      if (r.rows.affectedRows !== 1) missed.push(page)
    }
    expect(missed, `updates that matched no row (pages ${missed.slice(0, 10).join(', ')}…)`).toEqual([])

    const done = await apply({...dataPlaneSettings(c.store, {autoApprove: true}), target: layout})
    expect(done.state, failures(done).join('\n')).toBe('done')
    const after = (await readKeyspaceState(c.store, KS))!
    expect(after.keyspace.vschema.sharded).toBe(false)
    expect(after.srvKeyspace.partitions.primary).toEqual(['0'])
    // Every update arrived on the merged shard (read there directly), each row once.
    const rows = await c.query<{page: number; message: string}>(
      'test-100',
      'SELECT page, message FROM messages ORDER BY page',
    )
    expect(rows.length).toBe(ROWS)
    expect(rows.filter((r) => r.message !== `updated ${r.page}`).map((r) => r.page)).toEqual([])
  },
)
