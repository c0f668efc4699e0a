// The local cluster against real MariaDB: up (its time logged), replication inside shards, users and read_only,
// idempotent re-runs, restart of a stopped instance, clear errors, and down stopping exactly its own processes.
// The tests share one cluster but not each other's data: each makes its own table; down (last) ends the cluster.
import {spawn} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {clusterStatus, startCluster, stopCluster, type ClusterTablet} from '../../src/local/index.js'
import {stopPid} from '../../src/local/proc.js'
import {processAlive as pidAlive} from '../../src/util/process.js'
import {stateFile} from '../../src/local/state.js'
import {placeOf} from '../../src/local/tablets.js'
import {guestbookFile, registerTablets, startTestCluster, testPasswords, type TestCluster} from '../helpers/cluster.js'
import {freePort} from '../helpers/ports.js'
import {registerProcess} from '../helpers/procs.js'

let c: TestCluster

beforeAll(async () => {
  const t0 = Date.now()
  c = await startTestCluster([guestbookFile('1-shard.yaml'), guestbookFile('2-shards.yaml')], {topo: 'file'})
  // The figure the issue asks for: 9 tablets of 1-shard.yaml + 2-shards.yaml ready (goal < 10 s).
  console.log(
    `local up of ${c.tablets.length} tablets: ${c.cluster.elapsedMs} ms (helper total ${Date.now() - t0} ms) ${JSON.stringify(c.cluster.timings)}`,
  )
})

/** `local up` again on the test cluster's folder (specs as it was started); its progress lines go to `said`. */
function upAgain(said: string[] = []) {
  return startCluster({
    dir: join(c.dir, 'local'),
    tablets: specs(),
    passwords: testPasswords(),
    replPassword: testPasswords().SHARDFORM_REPL_PASSWORD,
    onProgress: (line) => said.push(line),
  })
}

/** A fresh table on a shard's primary, on its replicas once replication caught up. */
async function freshTable(primary: string, name: string): Promise<void> {
  await c.query(primary, `CREATE TABLE ${name} (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(20))`)
  await c.waitReplication()
}

afterAll(async () => {
  await c?.stop()
})

/** The tablets as startCluster takes them, from the running test cluster (passwords: testPasswords()). */
function specs(): ClusterTablet[] {
  return c.tablets.map((t) => ({
    ...placeOf(t),
    passwordEnv: 'SHARDFORM_MYSQL_PASSWORD',
    adminPasswordEnv: 'SHARDFORM_ADMIN_PASSWORD',
  }))
}

describe('local cluster', () => {
  it('brings up every tablet of both layouts, replicas replicating with GTID and read-only', async () => {
    expect(c.tablets.map((t) => t.alias).sort()).toEqual([
      'test-100',
      'test-101',
      'test-102',
      'test-200',
      'test-201',
      'test-202',
      'test-300',
      'test-301',
      'test-302',
    ])
    const st = await clusterStatus(join(c.dir, 'local'))
    expect(st.tablets).toHaveLength(9)
    for (const t of st.tablets) {
      expect(t.state, t.alias).toBe('running')
      if (t.type === 'primary') {
        expect(t.readOnly, t.alias).toBe(false)
        expect(t.replication, t.alias).toBeUndefined()
      } else {
        expect(t.readOnly, t.alias).toBe(true)
        expect(t.replication?.ioRunning, t.alias).toBe('Yes')
        expect(t.replication?.sqlRunning, t.alias).toBe('Yes')
        const primary = c.tablets.find((p) => p.shard === t.shard && p.type === 'primary')!
        expect(t.replication?.primaryPort, t.alias).toBe(primary.port)
      }
    }
    const [cfg] = await c.query<Record<string, unknown>>(
      'test-200',
      'SELECT @@binlog_format AS f, @@binlog_row_image AS i, @@gtid_strict_mode AS s, @@log_bin AS b, @@log_slave_updates AS u, @@bind_address AS a, @@server_id AS id, @@performance_schema AS ps',
    )
    expect(cfg).toMatchObject({f: 'ROW', i: 'FULL', s: '1', b: '1', u: '1', a: '127.0.0.1', ps: '0'})
    expect(Number(cfg.id)).toBe(c.tablet('test-200').port)
  })

  it('replicates a row written on a primary to its replica and rdonly, and to no other shard', async () => {
    await freshTable('test-200', 'repl_check')
    await c.query('test-200', 'INSERT INTO repl_check VALUES (18446744073709551615, ?)', ['hello'])
    await freshTable('test-300', 'repl_check')
    for (const alias of ['test-201', 'test-202']) {
      expect(await c.query(alias, 'SELECT id, v FROM repl_check')).toEqual([{id: '18446744073709551615', v: 'hello'}])
    }
    expect(await c.query('test-301', 'SELECT * FROM repl_check')).toEqual([])
    // The GTID comes from the shard's primary (server_id = its port), domain 0.
    const [{pos}] = await c.query<{pos: string}>('test-202', 'SELECT @@gtid_slave_pos AS pos')
    expect(pos).toMatch(new RegExp(`^0-${c.tablet('test-200').port}-\\d+$`))
  })

  it('gives the application user only its database, stopped by read_only; the admin user writes through it', async () => {
    await freshTable('test-300', 'grants_check')
    const app = await c.connect('test-300', 'app')
    const admin = await c.connect('test-300', 'admin')
    try {
      await app.query('INSERT INTO grants_check VALUES (1, ?)', ['app'])
      await expect(app.query('CREATE DATABASE elsewhere')).rejects.toMatchObject({errno: 1044})
      await expect(app.query('SET GLOBAL read_only=1')).rejects.toMatchObject({errno: 1227})
      await expect(app.query('SELECT * FROM mysql.global_priv')).rejects.toMatchObject({errno: 1142})
      await admin.query('SET GLOBAL read_only=1')
      await expect(app.query('INSERT INTO grants_check VALUES (2, ?)', ['app'])).rejects.toMatchObject({errno: 1290})
      await admin.query('INSERT INTO grants_check VALUES (3, ?)', ['admin'])
      await admin.query('SET GLOBAL read_only=0')
      await app.query('INSERT INTO grants_check VALUES (4, ?)', ['app again'])
      const [rows] = await admin.query('SELECT id FROM grants_check ORDER BY id')
      expect((rows as Array<{id: string}>).map((r) => r.id)).toEqual(['1', '3', '4'])
      // On a replica the application user cannot write at all.
      const replica = await c.connect('test-301', 'app')
      await expect(replica.query('INSERT INTO grants_check VALUES (5, ?)', ['x'])).rejects.toMatchObject({
        errno: 1290,
      })
      await replica.end()
    } finally {
      await admin.query('SET GLOBAL read_only=0').catch(() => undefined)
      await app.end()
      await admin.end()
    }
  })

  it('lets root in through the socket only', async () => {
    const mysql = await import('mysql2/promise')
    const err = await mysql
      .createConnection({host: '127.0.0.1', port: c.tablet('test-100').port, user: 'root', password: ''})
      .then(
        (conn) => (conn.destroy(), undefined),
        (e: {errno?: number}) => e,
      )
    // 1045 access denied (no root@127.0.0.1 account): root exists only as root@localhost, i.e. the socket.
    expect([1045, 1130]).toContain(err?.errno)
  })

  it('is idempotent: a second up finds everything running, and restarts a stopped instance on its data', async () => {
    await freshTable('test-200', 'restart_check')
    await c.query('test-200', 'INSERT INTO restart_check VALUES (1, ?)', ['before'])
    await c.waitReplication()
    const before = new Map(c.tablets.map((t) => [t.alias, t.pid]))
    const said: string[] = []
    const again = await upAgain(said)
    // Nothing started: every instance found running under the pid it had, and no start announced.
    expect(again.tablets.every((t) => t.action === 'running')).toBe(true)
    expect(new Map(again.tablets.map((t) => [t.alias, t.pid]))).toEqual(before)
    expect(said.filter((l) => /Starting|template/i.test(l))).toEqual([])
    console.log(`local up with everything running: ${again.elapsedMs} ms`)

    const victim = c.tablets.find((t) => t.alias === 'test-201')!
    expect(await stopPid(victim.pid)).toBe('stopped')
    await c.query('test-200', 'INSERT INTO restart_check VALUES (7, ?)', ['while down'])
    const third = await upAgain(said)
    registerTablets({dir: c.dir, tablets: third.tablets.filter((t) => t.action !== 'running')})
    expect(said.filter((l) => /Starting/.test(l))).toEqual(['Starting 1 mariadbd instance(s) in parallel…'])
    const restarted = third.tablets.find((t) => t.alias === 'test-201')!
    expect(restarted.action).toBe('restarted')
    expect(restarted.pid).not.toBe(victim.pid)
    expect(third.tablets.filter((t) => t.action !== 'running').map((t) => t.alias)).toEqual(['test-201'])
    c.tablets.splice(c.tablets.indexOf(victim), 1, restarted)
    await c.waitReplication()
    expect(
      (await c.query<{id: string}>('test-201', 'SELECT id FROM restart_check ORDER BY id')).map((r) => r.id),
    ).toEqual(['1', '7'])
  })

  it('refuses a port taken by another program, naming the port and the tablet', async () => {
    const port = await freePort()
    const srv = createServer()
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()))
    try {
      const t: ClusterTablet = {
        alias: 'busy-1',
        keyspace: 'ks',
        shard: '0',
        type: 'primary',
        port,
        database: 'vt_ks',
      }
      const busy = {dir: join(c.dir, 'busy'), tablets: [t], appPassword: 'a', adminPassword: 'b', replPassword: 'r'}
      await expect(startCluster(busy)).rejects.toThrow(new RegExp(`port ${port} of tablet busy-1 is already in use`))
    } finally {
      srv.close()
    }
  })

  it('says which package to install when mariadbd is missing', async () => {
    const t: ClusterTablet = {
      alias: 'nobin-1',
      keyspace: 'ks',
      shard: '0',
      type: 'primary',
      port: await freePort(),
      database: 'vt_ks',
    }
    const prev = process.env.SHARDFORM_MARIADBD
    process.env.SHARDFORM_MARIADBD = '/nonexistent/mariadbd'
    try {
      await expect(startCluster({dir: join(c.dir, 'nobin'), tablets: [t], replPassword: 'r'})).rejects.toThrow(
        'apt-get install -y mariadb-server',
      )
    } finally {
      if (prev === undefined) delete process.env.SHARDFORM_MARIADBD
      else process.env.SHARDFORM_MARIADBD = prev
    }
  })

  it('down stops exactly the processes it started, by PID, and leaves others alone', async () => {
    const dir = join(c.dir, 'local')
    // Whatever an earlier test left stopped runs again first (pids as the folder records them now).
    const up = await upAgain()
    registerTablets({dir: c.dir, tablets: up.tablets.filter((t) => t.action !== 'running')})
    c.tablets.splice(0, c.tablets.length, ...up.tablets)
    // A process that is not ours, recorded under a made-up tablet: down must not touch it.
    const bystander = spawn('sleep', ['60'], {stdio: 'ignore'})
    registerProcess('sleep (bystander)', bystander)
    try {
      const state = JSON.parse(readFileSync(stateFile(dir), 'utf8'))
      state.tablets.ghost = {
        ...state.tablets['test-100'],
        alias: 'ghost',
        pid: bystander.pid,
        dir: join(dir, 'ghost'),
        cnf: join(dir, 'ghost', 'my.cnf'),
      }
      writeFileSync(stateFile(dir), JSON.stringify(state))
      const pids = c.tablets.map((t) => t.pid)
      const report = await stopCluster(dir)
      expect(report.stopped.find((s) => s.name === 'ghost')?.how).toBe('not ours')
      expect(
        report.stopped
          .filter((s) => s.how === 'stopped')
          .map((s) => s.name)
          .sort(),
      ).toEqual(c.tablets.map((t) => t.alias).sort())
      for (const pid of pids) expect(pidAlive(pid), `pid ${pid}`).toBe(false)
      expect(pidAlive(bystander.pid!)).toBe(true)
      const st = await clusterStatus(dir)
      expect(st.tablets.filter((t) => t.state !== 'stopped')).toEqual([])
    } finally {
      bystander.kill('SIGKILL')
      await sleep(10)
    }
  })
})
