// TLS for real: a self-signed CA (openssl CLI), a mariadbd started with ssl_ca/ssl_cert/ssl_key and
// require_secure_transport, users REQUIRE X509 / REQUIRE SSL; an etcd serving only https with client-certificate
// authentication. shardform's connections (mysql2, the zongji binlog reader, the etcd client, the CLI) connect with
// the files the layout / environment name, verify the server, and fail clearly without them.
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ShardformError} from '../../src/errors.js'
import {
  copyTemplate,
  ensureTemplate,
  findMariaDB,
  instancePaths,
  rootConnection,
  spawnMariadbd,
  templateKey,
  waitReady,
} from '../../src/local/mariadb.js'
import {BinlogReader, type BinlogTransaction} from '../../src/mysql/binlog.js'
import {connectTablet} from '../../src/mysql/connect.js'
import {openTopo} from '../../src/topo/open.js'
import type {TabletRecord, TlsFiles} from '../../src/topo/records.js'
import type {TopoStore} from '../../src/topo/store.js'
import {registerProcess} from '../helpers/procs.js'
import {cli, ROOT} from '../helpers/cli.js'
import type {TestEtcd} from '../helpers/etcd.js'
import {freePorts} from '../helpers/ports.js'
import {etcdTlsEnv, makeCertificates, startTlsEtcd} from '../helpers/tls.js'

// MariaDB's certificate names only db.shardform.test: reached as `localhost` it fails the name check, reached by IP
// its chain is checked.
const certs = makeCertificates()
const pem = (name: string) => certs.pem(name)
let mysqlPort: number
let mariadbPid: number | undefined
let etcd: TestEtcd | undefined
let etcdPort: number

const ADMIN_PW = 'tls-admin-pw'
const APP_PW = 'tls-app-pw'

async function startMariaDB(): Promise<void> {
  const bins = findMariaDB()
  const template = await ensureTemplate(join(tmpdir(), 'shardform-test-templates', await templateKey(bins)), bins)
  const p = instancePaths(join(certs.dir, 'tls-1'))
  await copyTemplate(template, p.datadir)
  const {pid, exited} = await spawnMariadbd(
    bins,
    {
      alias: 'tls-1',
      role: 'primary',
      port: mysqlPort,
      serverId: mysqlPort,
      bufferPool: '32M',
      extraConfig: [
        `ssl_ca=${pem('ca.pem')}`,
        `ssl_cert=${pem('server.pem')}`,
        `ssl_key=${pem('server.key')}`,
        'require_secure_transport=ON',
      ],
    },
    p,
  )
  mariadbPid = pid
  registerProcess('mariadbd tls-1', pid)
  await waitReady('tls-1', pid, p, 60_000, exited)
  const root = await rootConnection(p.socket)
  try {
    for (const sql of [
      'SET SESSION sql_log_bin = 0',
      'CREATE DATABASE tlsdb',
      'CREATE TABLE tlsdb.t (id INT PRIMARY KEY, v VARCHAR(20))',
      `CREATE USER 'tls_admin'@'127.0.0.1' IDENTIFIED BY '${ADMIN_PW}' REQUIRE X509`,
      "GRANT SELECT, INSERT ON tlsdb.* TO 'tls_admin'@'127.0.0.1'",
      "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'tls_admin'@'127.0.0.1'",
      `CREATE USER 'tls_app'@'127.0.0.1' IDENTIFIED BY '${APP_PW}' REQUIRE SSL`,
      "GRANT SELECT, INSERT ON tlsdb.* TO 'tls_app'@'127.0.0.1'",
    ])
      await root.query(sql)
  } finally {
    await root.end()
  }
}

const ETCD_ENV = () => etcdTlsEnv(certs)

beforeAll(async () => {
  ;[mysqlPort] = await freePorts(1)
  process.env.SHARDFORM_TLS_ADMIN_PASSWORD = ADMIN_PW
  process.env.SHARDFORM_TLS_APP_PASSWORD = APP_PW
  const etcdStarted = startTlsEtcd(certs).then((e) => {
    etcd = e
    etcdPort = e.port
  })
  await Promise.all([startMariaDB(), etcdStarted])
}, 120_000)

afterAll(async () => {
  if (mariadbPid) {
    try {
      process.kill(mariadbPid, 'SIGKILL')
    } catch {
      // gone
    }
  }
  await etcd?.stop()
  await sleep(200)
  certs.remove()
})

/** The tablet as the topology records it (by IP address, as the local cluster does). */
function tablet(tls: TlsFiles | undefined, host = '127.0.0.1'): TabletRecord {
  return {
    alias: 'tls-1',
    keyspace: 'ks',
    shard: '0',
    type: 'primary',
    host,
    port: mysqlPort,
    database: 'tlsdb',
    user: 'tls_app',
    passwordEnv: 'SHARDFORM_TLS_APP_PASSWORD',
    adminUser: 'tls_admin',
    adminPasswordEnv: 'SHARDFORM_TLS_ADMIN_PASSWORD',
    ...(tls ? {tls} : {}),
  }
}

const FULL: TlsFiles = {ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key')}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a failure')
}

describe('MySQL over TLS', () => {
  it('connects with the CA and client certificate the tablet names; the session is encrypted', async () => {
    const conn = await connectTablet(tablet(FULL), 'admin')
    try {
      const [[row]] = (await conn.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")) as unknown as [Array<{Value: string}>]
      expect(row!.Value).not.toBe('')
      const [[me]] = (await conn.query('SELECT CURRENT_USER() AS u')) as unknown as [Array<{u: string}>]
      expect(me!.u).toBe('tls_admin@127.0.0.1')
    } finally {
      await conn.end()
    }
    // The application user needs TLS, not a certificate: the CA is enough.
    const app = await connectTablet(tablet({ca: pem('ca.pem')}), 'app')
    await app.end()
  })

  it('is refused without TLS, without the client certificate, and with a server certificate from another CA', async () => {
    const plain = await failure(connectTablet(tablet(undefined), 'admin'))
    expect(plain.message).toMatch(/^tablet tls-1 \(127\.0\.0\.1:\d+\): .*(insecure transport|Access denied)/)
    const noCert = await failure(connectTablet(tablet({ca: pem('ca.pem')}), 'admin'))
    expect(noCert.message).toMatch(/^tablet tls-1 \(127\.0\.0\.1:\d+\): Access denied for user 'tls_admin'/)
    const wrongCa = await failure(connectTablet(tablet({...FULL, ca: pem('other-ca.pem')}), 'admin'))
    expect(wrongCa.message).toMatch(/^tablet tls-1 \(127\.0\.0\.1:\d+\): .*(certificate|self.signed|unable to verify)/i)
    // verifyServerCert: false still encrypts, without checking who answers (documented as unsafe).
    const unverified = await connectTablet(tablet({...FULL, ca: pem('other-ca.pem'), verifyServerCert: false}), 'admin')
    await unverified.end()
  })

  it('checks the host name of a tablet addressed by a DNS name: a certificate for another name is refused', async () => {
    // localhost reaches the server, but its certificate names db.shardform.test only.
    const err = await failure(connectTablet(tablet(FULL, 'localhost'), 'admin'))
    expect(err.message).toMatch(
      /^tablet tls-1 \(localhost:\d+\): .*Host: localhost\. is not in the cert's altnames: DNS:db\.shardform\.test/,
    )
    // verifyServerCert: false turns the checks off (encrypted, but anyone with a certificate could answer).
    const unverified = await connectTablet(tablet({...FULL, verifyServerCert: false}, 'localhost'), 'admin')
    await unverified.end()
  })

  it('a missing TLS file is a clear error before any connection is tried', async () => {
    const err = await failure(connectTablet(tablet({...FULL, key: pem('nope.key')}), 'admin'))
    expect(err).toBeInstanceOf(ShardformError)
    expect(err.message).toBe(
      `tablet tls-1: cannot read the TLS client key ${pem('nope.key')}: no such file. Fix the path under tls: in the layout (defaults or the tablet) and apply it, or make the file readable.`,
    )
  })

  it('the binlog reader (zongji) connects with the same TLS options and streams row changes', async () => {
    const seen: BinlogTransaction[] = []
    const reader = await BinlogReader.start({
      tablet: tablet(FULL),
      database: 'tlsdb',
      fromGtid: '',
      serverId: 4242,
      onTransaction: (tx) => seen.push(tx),
      onError: (err) => seen.push({gtid: 'error', timestamp: 0, changes: [], ddl: err.message}),
    })
    try {
      const conn = await connectTablet(tablet(FULL), 'admin')
      await conn.query("INSERT INTO tlsdb.t VALUES (1, 'over tls')")
      await conn.end()
      for (let i = 0; i < 100 && !seen.some((t) => t.changes.length); i++) await sleep(50)
      expect(seen.filter((t) => t.gtid === 'error')).toEqual([])
      expect(seen.flatMap((t) => t.changes)).toEqual([{kind: 'insert', table: 't', after: {id: 1, v: 'over tls'}}])
    } finally {
      reader.stop()
    }
    // Without TLS the reader cannot even connect.
    const err = await failure(
      BinlogReader.start({
        tablet: tablet(undefined),
        database: 'tlsdb',
        fromGtid: '',
        serverId: 4243,
        onTransaction: () => undefined,
        onError: () => undefined,
      }),
    )
    expect(err.message).toMatch(/tablet tls-1: binlog stream: .*(insecure transport|Access denied)/)
  })
})

describe('etcd over TLS', () => {
  let store: TopoStore | undefined

  async function openWhenUp(url: string, env: Record<string, string>): Promise<TopoStore> {
    const deadline = Date.now() + 20_000
    for (;;) {
      try {
        return await openTopo(url, {etcd: {env, connectTimeoutMs: 2_000}})
      } catch (err) {
        if (Date.now() > deadline) throw err
        await sleep(200)
      }
    }
  }

  // etcd is up (it was started without waiting) before any test: the refusals below must meet a running server.
  beforeAll(async () => {
    store = await openWhenUp(`etcds://127.0.0.1:${etcdPort}/tlsroot`, ETCD_ENV())
  })

  afterAll(async () => {
    await store?.close()
  })

  it('etcds:// with SHARDFORM_ETCD_CA/_CERT/_KEY: reads and writes records', async () => {
    if (!store) throw new Error('no store: etcd over TLS did not come up')
    expect(store.url).toBe(`etcds://127.0.0.1:${etcdPort}/tlsroot`)
    await store.create('keyspaces/x/Keyspace', {name: 'x'})
    expect((await store.get('keyspaces/x/Keyspace'))?.value).toEqual({name: 'x'})
  })

  it('without the client certificate, with plain etcd://, or trusting another CA: refused with a clear error', async () => {
    const url = `etcds://127.0.0.1:${etcdPort}/tlsroot`
    for (const [u, env] of [
      [url, {SHARDFORM_ETCD_CA: pem('ca.pem')}],
      [`etcd://127.0.0.1:${etcdPort}/tlsroot`, {}],
      [url, {...ETCD_ENV(), SHARDFORM_ETCD_CA: pem('other-ca.pem')}],
    ] as const) {
      const err = await failure(openTopo(u, {etcd: {env, connectTimeoutMs: 1_500, callTimeoutMs: 1_500}}))
      expect(err.name).toBe('TopoError')
      expect(err.message, `${u} ${JSON.stringify(env)}`).toMatch(
        /^cannot reach etcd at etcds?:\/\/127\.0\.0\.1:\d+\/tlsroot: /,
      )
    }
  })

  // Three CLI runs: each takes seconds on a busy machine (oclif loads every command).
  it(
    'the CLI takes the TLS files from the environment: topo init and topo show over etcds://',
    {timeout: 180_000},
    async () => {
      const topo = `etcds://127.0.0.1:${etcdPort}/clitls`
      const env = {...ETCD_ENV(), SHARDFORM_TOPO: topo}
      const init = await cli(['topo', 'init', join(ROOT, 'plans/guestbook/1-shard.yaml')], {env})
      expect(init.code, init.stderr).toBe(0)
      expect(init.stdout).toContain(`Initialised keyspace test_keyspace in ${topo}`)
      expect(init.stderr).toBe('')
      const show = await cli(['topo', 'show', '--json'], {env})
      expect(show.code, show.stderr).toBe(0)
      expect(JSON.parse(show.stdout).keyspaces[0].name).toBe('test_keyspace')
      const noKey = await cli(['topo', 'show'], {env: {...env, SHARDFORM_ETCD_KEY: undefined}})
      expect(noKey.code).toBe(1)
      expect(noKey.stderr).toBe(
        'Error: SHARDFORM_ETCD_CERT is set but SHARDFORM_ETCD_KEY is not: a client certificate for etcd needs its key (set both, or neither).\n',
      )
    },
  )
})
