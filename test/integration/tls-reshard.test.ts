// A whole 1 → 2 reshard of the guestbook over TLS only: every mariadbd (sources, destinations, replicas, rdonlys) has
// require_secure_transport=ON and replicates over TLS, the topology is in an etcd serving only https with client
// certificates (etcds://), and the layouts name the CA and client certificate (defaults.tls). The CLI applies the
// reshard while `shardform load` writes through the router; shardform's binlog streams (zongji), clone, diff and
// cutover all run over TLS, since nothing else is accepted.
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {keyspaceId} from '../../src/keyspace/vindexes/index.js'
import {connectTablet} from '../../src/mysql/connect.js'
import {openTopo} from '../../src/topo/open.js'
import {tabletPath} from '../../src/topo/paths.js'
import type {TabletRecord} from '../../src/topo/records.js'
import {cli, startLoad} from '../helpers/cli.js'
import {guestbookFile, startTestCluster, type TestCluster} from '../helpers/cluster.js'
import type {TestEtcd} from '../helpers/etcd.js'
import {etcdTlsEnv, makeCertificates, startTlsEtcd} from '../helpers/tls.js'

// Replicas check the primary's certificate against 127.0.0.1 (MASTER_SSL_VERIFY_SERVER_CERT).
const certs = makeCertificates({serverNames: ['IP:127.0.0.1', 'DNS:localhost']})
let etcd: TestEtcd | undefined
let c: TestCluster | undefined

const SOURCES = ['test-100', 'test-101', 'test-102']
const DESTINATIONS = {'-80': ['test-200', 'test-201', 'test-202'], '80-': ['test-300', 'test-301', 'test-302']}
const ALL = [...SOURCES, ...DESTINATIONS['-80'], ...DESTINATIONS['80-']]
/** Rows written before the reshard; their time_created_ns (1..SEEDED) never meets the load's (nanoseconds now). */
const SEEDED = 3000

beforeAll(async () => {
  etcd = await startTlsEtcd(certs)
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {
    init: 0,
    schema: true,
    etcd,
    tls: {server: certs.server, client: certs.client, etcdEnv: etcdTlsEnv(certs)},
  })
  await c.query(
    'test-100',
    `INSERT INTO messages (page, time_created_ns, message) SELECT seq * 7919 % 100003, seq, CONCAT('seeded ', seq) FROM seq_1_to_${SEEDED}`,
  )
}, 180_000)

afterAll(async () => {
  await c?.stop()
  await etcd?.stop()
  certs.remove()
})

const cluster = () => c!
// Killed before the test's own timeout, so no CLI outlives the test.
const run = (args: string[]) => cli(args, {env: cluster().env, timeoutMs: 200_000})

/** The tablet's record without TLS: a client that does not ask for it. */
function plain(alias: string): TabletRecord {
  const {tls: _tls, ...rest} = cluster().tablet(alias)
  return rest
}

async function refusal(p: Promise<{end(): Promise<void>}>): Promise<string> {
  try {
    await (await p).end()
  } catch (err) {
    return (err as Error).message
  }
  return 'connected'
}

async function status(alias: string, sql: string): Promise<Record<string, string>> {
  const rows = await cluster().query<{Variable_name: string; Value: string}>(alias, sql)
  return Object.fromEntries(rows.map((r) => [r.Variable_name, String(r.Value)]))
}

type Row = {page: string; time_created_ns: string; message: string}
const key = (r: Row) => `${r.page}/${r.time_created_ns}`
const seeded = (alias: string) =>
  cluster().query<Row>(
    alias,
    `SELECT page, time_created_ns, message FROM messages WHERE time_created_ns <= ${SEEDED} ORDER BY page, time_created_ns`,
  )
const shardOf = (page: string) => (keyspaceId('hash', page)[0]! < 0x80 ? '-80' : '80-')

describe('TLS everywhere', () => {
  it('every instance refuses a plain connection, serves shardform over TLS, and replicas replicate over TLS', async () => {
    for (const alias of ALL) {
      // MariaDB 10.11 answers a plain login under require_secure_transport with "Access denied"; the same user and
      // password over TLS gets in (below): the transport is what it refuses.
      expect(await refusal(connectTablet(plain(alias), 'admin')), alias).toMatch(
        /Access denied for user 'shardform'@'127\.0\.0\.1' \(using password: YES\)/,
      )
      const [vars] = await cluster().query<{secure: string; have_ssl: string}>(
        alias,
        'SELECT @@global.require_secure_transport AS secure, @@global.have_ssl AS have_ssl',
      )
      expect([String(vars!.secure), vars!.have_ssl], alias).toEqual(['1', 'YES'])
      expect(cluster().tablet(alias).tls, alias).toEqual(certs.client)
      const [cipher] = await cluster().query<{Value: string}>(alias, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")
      expect(cipher!.Value, `${alias} Ssl_cipher`).not.toBe('')
      const [app] = await cluster().query<{Value: string}>(alias, "SHOW SESSION STATUS LIKE 'Ssl_cipher'", [], 'app')
      expect(app!.Value, `${alias} Ssl_cipher (app user)`).not.toBe('')
      if (alias.endsWith('00')) continue
      const [st] = await cluster().query<Record<string, string>>(alias, 'SHOW SLAVE STATUS')
      expect(
        [st!.Master_SSL_Allowed, st!.Master_SSL_Verify_Server_Cert, st!.Slave_IO_Running, st!.Slave_SQL_Running],
        `${alias}: ${st!.Last_IO_Error}`,
      ).toEqual(['Yes', 'Yes', 'Yes', 'Yes'])
    }
    // The topology records the layouts' TLS files for every tablet.
    const rec = await cluster().store.get<TabletRecord>(tabletPath('test-100'))
    expect(rec?.value.tls).toEqual(certs.client)
    // etcd answers only TLS with a client certificate.
    for (const [url, env] of [
      [`etcd://127.0.0.1:${etcd!.port}/plain`, {}],
      [`etcds://127.0.0.1:${etcd!.port}/nocert`, {SHARDFORM_ETCD_CA: certs.ca}],
    ] as const) {
      const err = await openTopo(url, {etcd: {env, connectTimeoutMs: 1_500, callTimeoutMs: 1_500}}).then(
        async (s) => (await s.close(), 'opened'),
        (e: Error) => e.message,
      )
      expect(err, url).toMatch(/^cannot reach etcd at /)
    }
  })

  it(
    'reshards 1 → 2 under writes: every diff passes and each row is on the right destination',
    {timeout: 240_000},
    async () => {
      const accepts = async () =>
        Number((await status('test-100', "SHOW GLOBAL STATUS LIKE 'Ssl_accepts'")).Ssl_accepts)
      const acceptsBefore = await accepts()
      const journal = `${cluster().dir}/load.journal`
      const load = startLoad(
        'test_keyspace',
        ['--rate', '60', '--concurrency', '2', '--journal', journal],
        cluster().env,
      )
      // Writes are under way through the router (over etcds:// and TLS) before the reshard starts.
      const count = async () =>
        Number((await cluster().query<{n: string}>('test-100', 'SELECT COUNT(*) AS n FROM messages'))[0]!.n)
      for (let i = 0, n = await count(); n < SEEDED + 20; n = await count(), i++) {
        // A load that cannot write (e.g. no TLS to the topology or the tablets) says why instead of hanging.
        if (i === 600)
          expect.fail(`the load wrote ${n - SEEDED} row(s) in a minute: ${JSON.stringify(await load.stop())}`)
        await sleep(100)
      }

      const applied = await run(['apply', cluster().layoutFiles[1]!, '--auto-approve'])
      const {summary, code, stderr} = await load.stop()
      expect(applied.code, applied.stdout + applied.stderr).toBe(0)
      expect(applied.stdout).toContain('Apply complete!')
      expect(code, stderr).toBe(0)
      expect(summary.errors, JSON.stringify(summary)).toBe(0)
      expect(Number(summary.acknowledged)).toBeGreaterThan(20)

      const st = await run(['status', 'test_keyspace', '--json'])
      expect(st.code, st.stderr).toBe(0)
      const wf = JSON.parse(st.stdout).workflows[0] as {
        state: string
        phases: Array<{name: string; tasks: Array<{id: string; state: string}>}>
      }
      expect(wf.state).toBe('done')
      expect(wf.phases.find((p) => p.name === 'diff')!.tasks.map((t) => `${t.id} ${t.state}`)).toEqual([
        'diff/-80 done',
        'diff/80- done',
      ])
      // Every change the load had acknowledged is where the router now sends it.
      const verified = await run(['load', 'verify', '--journal', journal, 'test_keyspace'])
      expect(verified.code, verified.stdout + verified.stderr).toBe(0)

      // On the destinations themselves: the seeded rows, each on the shard of its hash and only there, on every
      // tablet of that shard (their replicas caught up over TLS).
      await cluster().waitReplication()
      const source = await seeded('test-100')
      expect(source).toHaveLength(SEEDED)
      for (const [shard, aliases] of Object.entries(DESTINATIONS)) {
        const expected = source.filter((r) => shardOf(r.page) === shard)
        expect(expected.length).toBeGreaterThan(SEEDED / 4)
        for (const alias of aliases) expect((await seeded(alias)).map(key), alias).toEqual(expected.map(key))
        const onPrimary = await seeded(aliases[0]!)
        expect(onPrimary, aliases[0]).toEqual(expected)
        // Rows the load wrote, too: each destination holds only rows of its own key range.
        const all = await cluster().query<{page: string}>(aliases[0]!, 'SELECT page FROM messages')
        expect(
          all.filter((r) => shardOf(r.page) !== shard),
          aliases[0],
        ).toEqual([])
      }
      // The source made TLS handshakes for shardform's clone, binlog stream and diff (no other way in), and still
      // refuses plain clients, as does every other instance.
      expect(await accepts()).toBeGreaterThan(acceptsBefore)
      for (const alias of ALL)
        expect(await refusal(connectTablet(plain(alias), 'admin')), alias).toMatch(/Access denied/)
    },
  )
})
