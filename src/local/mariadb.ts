// One mariadbd (Debian mariadb-server) per tablet: my.cnf, a template data directory copied per instance, start,
// readiness, and root access over the instance's unix socket only.
import {spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {closeSync, existsSync, openSync, readFileSync} from 'node:fs'
import {chmod, cp, mkdir, rename, rm, unlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {basename, dirname, join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Connection} from 'mysql2/promise'
import {ShardformError} from '../errors.js'
import type {TabletType} from '../topo/records.js'
import {findExecutable} from './proc.js'
import {processAlive} from '../util/process.js'

export const INSTALL_HINT = 'install it with: apt-get install -y mariadb-server'

export interface MariaDBBinaries {
  mariadbd: string
  installDb: string
}

/** mariadbd and mariadb-install-db ($SHARDFORM_MARIADBD overrides), or a clear error saying what to install. */
export function findMariaDB(): MariaDBBinaries {
  const override = process.env.SHARDFORM_MARIADBD
  const mariadbd = findExecutable('mariadbd', override ? [override] : ['/usr/sbin/mariadbd'])
  if (!mariadbd || (override && mariadbd !== override)) {
    throw new ShardformError(
      `mariadbd was not found${override ? ` at ${override} ($SHARDFORM_MARIADBD)` : ' (looked in /usr/sbin and $PATH)'}: ${INSTALL_HINT}`,
    )
  }
  const installDb = findExecutable('mariadb-install-db', [
    join(dirname(mariadbd), 'mariadb-install-db'),
    join(dirname(dirname(mariadbd)), 'bin', 'mariadb-install-db'),
  ])
  if (!installDb)
    throw new ShardformError(`mariadb-install-db was not found next to ${mariadbd} or in $PATH: ${INSTALL_HINT}`)
  return {mariadbd, installDb}
}

/** Settings that shape a data directory: the template and every copy must agree on them. */
const DATADIR_SETTINGS = ['innodb_log_file_size=4M', 'innodb_data_file_path=ibdata1:12M:autoextend']

export interface InstancePaths {
  dir: string
  cnf: string
  datadir: string
  /** Its own temporary files (not the shared /tmp, where other programs clean up and instances' names can meet). */
  tmpdir: string
  socket: string
  pidFile: string
  errorLog: string
  /** mariadbd's own stdout/stderr (the error log is separate). */
  outLog: string
}

export function instancePaths(dir: string): InstancePaths {
  const abs = resolve(dir)
  let socket = join(abs, 'mysql.sock')
  // A unix socket path holds at most 107 bytes; deep directories get a socket in the temp dir instead.
  if (Buffer.byteLength(socket) > 100) {
    socket = join(tmpdir(), `shardform-${createHash('sha256').update(abs).digest('hex').slice(0, 16)}.sock`)
  }
  return {
    dir: abs,
    cnf: join(abs, 'my.cnf'),
    datadir: join(abs, 'data'),
    tmpdir: join(abs, 'tmp'),
    socket,
    pidFile: join(abs, 'mariadbd.pid'),
    errorLog: join(abs, 'error.log'),
    outLog: join(abs, 'mariadbd.out'),
  }
}

export interface InstanceConfig {
  alias: string
  role: TabletType
  port: number
  serverId: number
  /** innodb_buffer_pool_size, e.g. "64M". */
  bufferPool: string
  /** innodb_log_file_size when it should differ from the template's 4M (MariaDB resizes the log at start). */
  redoLog?: string
  /** More `key=value` lines for [mariadbd] (e.g. ssl_ca/ssl_cert/ssl_key), appended as given. */
  extraConfig?: string[]
}

/** The my.cnf of one instance. Everything lives in its folder; it listens on 127.0.0.1 only. */
export function renderMyCnf(cfg: InstanceConfig, p: InstancePaths): string {
  const lines = [
    `# Written by \`shardform local up\` for tablet ${cfg.alias} (${cfg.role}); rewritten on every \`local up\`.`,
    '[mariadbd]',
    ...(process.getuid?.() === 0 ? ['user=root'] : []),
    'bind-address=127.0.0.1',
    `port=${cfg.port}`,
    `socket=${p.socket}`,
    `datadir=${p.datadir}`,
    `tmpdir=${p.tmpdir}`,
    `pid-file=${p.pidFile}`,
    `log_error=${p.errorLog}`,
    `server_id=${cfg.serverId}`,
    'report_host=127.0.0.1',
    `report_port=${cfg.port}`,
    'skip-name-resolve',
    // Binary log with GTIDs: the source of replicas and of shardform's filtered replication.
    'log_bin=binlog',
    'log_bin_index=binlog.index',
    'relay_log=relay-bin',
    'relay_log_index=relay-bin.index',
    'binlog_format=ROW',
    'binlog_row_image=FULL',
    // Row events carry column names, charsets and enum values: the binlog reader needs no INFORMATION_SCHEMA.
    'binlog_row_metadata=FULL',
    'gtid_strict_mode=1',
    'log_slave_updates=1',
    'local_infile=1',
    'max_allowed_packet=64M',
    'max_connections=300',
    'character_set_server=utf8mb4',
    'collation_server=utf8mb4_general_ci',
    // Small and quick to start: a test runs 21 of these on two cores.
    'performance_schema=OFF',
    `innodb_buffer_pool_size=${cfg.bufferPool}`,
    'innodb_log_buffer_size=8M',
    'innodb_temp_data_file_path=ibtmp1:4M:autoextend',
    'innodb_buffer_pool_dump_at_shutdown=OFF',
    'innodb_buffer_pool_load_at_startup=OFF',
    'key_buffer_size=1M',
    'aria_pagecache_buffer_size=8M',
    ...DATADIR_SETTINGS,
    ...(cfg.redoLog ? [`innodb_log_file_size=${cfg.redoLog}`] : []),
    // LOCAL CLUSTER ONLY: an OS crash may lose the last second of commits. Never use these two in production.
    'innodb_flush_log_at_trx_commit=2',
    'sync_binlog=0',
    // Replicas reconnect quickly to a restarted primary.
    'slave_net_timeout=10',
    ...(cfg.role === 'primary'
      ? []
      : ['# Replicas take writes only from replication and from users with READ ONLY ADMIN.', 'read_only=ON']),
    ...(cfg.extraConfig ?? []),
  ]
  return lines.join('\n') + '\n'
}

/**
 * A pristine data directory (system tables only; root@localhost without password, reachable through the socket
 * only) at `templateDir`, made once by mariadb-install-db and then copied for each instance. Safe against
 * concurrent callers: it is built aside and renamed into place.
 */
export async function ensureTemplate(templateDir: string, bins: MariaDBBinaries): Promise<string> {
  const target = resolve(templateDir)
  const data = join(target, 'data')
  if (existsSync(join(target, 'READY'))) return data
  await mkdir(dirname(target), {recursive: true})
  const work = `${target}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`
  await mkdir(work, {recursive: true, mode: 0o700})
  try {
    const cnf = join(work, 'my.cnf')
    const extra = join(work, 'root-socket-only.sql')
    await writeFile(
      cnf,
      [
        '[mariadbd]',
        ...(process.getuid?.() === 0 ? ['user=root'] : []),
        `datadir=${join(work, 'data')}`,
        'skip-name-resolve',
        'performance_schema=OFF',
        'innodb_buffer_pool_size=32M',
        'character_set_server=utf8mb4',
        'collation_server=utf8mb4_general_ci',
        ...DATADIR_SETTINGS,
      ].join('\n') + '\n',
    )
    // root only over the socket: no TCP account without a password.
    await writeFile(
      extra,
      "DELETE FROM mysql.global_priv WHERE User='root' AND Host<>'localhost';\nDELETE FROM mysql.proxies_priv WHERE Host<>'localhost';\n",
    )
    const out = await run(bins.installDb, [
      `--defaults-file=${cnf}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      `--extra-file=${extra}`,
    ])
    if (out.code !== 0) {
      throw new ShardformError(
        `mariadb-install-db failed (exit ${out.code}) while preparing ${target}:\n${out.text.trim().split('\n').slice(-15).join('\n')}`,
      )
    }
    await rm(join(work, 'data', 'ib_buffer_pool'), {force: true})
    await writeFile(join(work, 'READY'), `${new Date().toISOString()}\n`)
    try {
      await rename(work, target)
    } catch (err) {
      // Someone else finished first: use theirs.
      if (!existsSync(join(target, 'READY'))) throw err
    }
  } finally {
    await rm(work, {recursive: true, force: true})
  }
  return data
}

/** Copy the template's data directory to a new instance's. */
export async function copyTemplate(templateData: string, datadir: string): Promise<void> {
  // coreutils cp keeps the mostly-zero InnoDB files sparse and is several times faster than fs.cp here.
  const out = await run('cp', ['-a', '--sparse=always', `${templateData}/.`, datadir])
  if (out.code !== 0) {
    await rm(datadir, {recursive: true, force: true})
    await cp(templateData, datadir, {recursive: true, errorOnExist: true, force: false})
  }
  await chmod(datadir, 0o700)
}

/** Write my.cnf and start mariadbd detached (it outlives this process). Returns its PID. */
export async function spawnMariadbd(
  bins: MariaDBBinaries,
  cfg: InstanceConfig,
  p: InstancePaths,
): Promise<{pid: number; exited: Promise<number | null>}> {
  await mkdir(p.tmpdir, {recursive: true, mode: 0o700})
  await writeFile(p.cnf, renderMyCnf(cfg, p))
  await unlink(p.socket).catch(() => undefined)
  const fd = openSync(p.outLog, 'a')
  try {
    const child = spawn(bins.mariadbd, [`--defaults-file=${p.cnf}`], {detached: true, stdio: ['ignore', fd, fd]})
    const exited = new Promise<number | null>((res) => {
      child.once('exit', (code) => res(code))
      child.once('error', () => res(-1))
    })
    child.unref()
    if (!child.pid)
      throw new ShardformError(`could not start ${bins.mariadbd} for tablet ${cfg.alias}: ${await exited}`)
    return {pid: child.pid, exited}
  } finally {
    closeSync(fd)
  }
}

/** The last lines of an instance's logs, to explain why it did not start. */
export function logTail(p: InstancePaths, lines = 12): string {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8').trim().split('\n')
    } catch {
      return []
    }
  }
  const all = [...read(p.outLog), ...read(p.errorLog)].filter((l) => l.trim() !== '')
  return all.slice(-lines).join('\n')
}

/** A root connection over the instance's unix socket (the only way root can log in). */
export async function rootConnection(socket: string, connectTimeout = 2_000): Promise<Connection> {
  const mysql = await import('mysql2/promise')
  return mysql.createConnection({
    socketPath: socket,
    user: 'root',
    password: '',
    connectTimeout,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
  })
}

/** Run `fn` on a root connection to the instance, closed afterwards. */
export async function withRoot<T>(socket: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const conn = await rootConnection(socket)
  try {
    return await fn(conn)
  } finally {
    await conn.end().catch(() => undefined)
  }
}

/** Does the instance answer on its socket? */
export async function answers(socket: string): Promise<boolean> {
  if (!existsSync(socket)) return false
  let conn: Connection | undefined
  try {
    conn = await rootConnection(socket, 1_000)
    await conn.query('SELECT 1')
    return true
  } catch {
    return false
  } finally {
    await conn?.end().catch(() => undefined)
  }
}

/** Wait until the instance answers on its socket; fail early (with its log) when the process dies. */
export async function waitReady(
  alias: string,
  pid: number,
  p: InstancePaths,
  timeoutMs: number,
  exited?: Promise<number | null>,
): Promise<void> {
  let dead: number | null | undefined
  void exited?.then((c) => (dead = c ?? -1))
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await answers(p.socket)) return
    if (dead !== undefined || !processAlive(pid)) {
      throw new ShardformError(
        `mariadbd of tablet ${alias} exited while starting. Its log (${p.errorLog}):\n${logTail(p)}`,
      )
    }
    if (Date.now() > deadline) {
      throw new ShardformError(
        `mariadbd of tablet ${alias} (pid ${pid}) did not answer within ${Math.round(timeoutMs / 1000)} s. Its log (${p.errorLog}):\n${logTail(p)}`,
      )
    }
    await sleep(25)
  }
}

/** The installed server version (part of the template cache key). */
export async function mariadbdVersion(bins: MariaDBBinaries): Promise<string> {
  const out = await run(bins.mariadbd, ['--version'])
  return out.text.trim()
}

/** A template folder name that changes with the server version and the datadir-shaping settings. */
export async function templateKey(bins: MariaDBBinaries): Promise<string> {
  const v = await mariadbdVersion(bins)
  return `mariadb-template-${createHash('sha256')
    .update(`${v}\n${DATADIR_SETTINGS.join('\n')}\n${process.getuid?.()}`)
    .digest('hex')
    .slice(0, 12)}`
}

function run(cmd: string, args: string[]): Promise<{code: number | null; text: string}> {
  return new Promise((res) => {
    const child = spawn(cmd, args, {stdio: ['ignore', 'pipe', 'pipe']})
    let text = ''
    child.stdout!.on('data', (d: Buffer) => (text += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (text += d.toString()))
    child.once('error', (e) => res({code: -1, text: `${basename(cmd)}: ${e.message}`}))
    child.once('close', (code) => res({code, text}))
  })
}
