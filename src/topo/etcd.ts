// The etcd backend: records as pretty JSON under /<root>/, versions are mod revisions, the keyspace lock is a key
// bound to a lease. etcd3 is loaded only in open(), so commands that never touch etcd do not pay for it.
import {readFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Etcd3, IKeyValue, IOptions, IRequestOp, Lease, Watcher} from 'etcd3'
import {lockPath} from './paths.js'
import type {LockRecord} from './records.js'
import {
  checkPath,
  checkPrefix,
  checkTtl,
  checkTxn,
  commitConflict,
  lockHeldError,
  lockLostError,
  newLockRecord,
  recordText,
  TopoError,
  wrongLockError,
  type Entry,
  type LockHandle,
  type LockOptions,
  type TopoStore,
  type TxnOp,
  type WatchEvent,
} from './store.js'

type Etcd3Module = typeof import('etcd3')

export interface EtcdTopoOptions {
  /** Deadline of each request (ms). */
  callTimeoutMs?: number
  /** How long open() and watch() wait for etcd to answer (ms). */
  connectTimeoutMs?: number
  /** Where SHARDFORM_ETCD_CA / _CERT / _KEY are read (default process.env). */
  env?: NodeJS.ProcessEnv
}

export interface EtcdLocation {
  /** `host:port` each. */
  hosts: string[]
  root: string
  /** `etcds://`: TLS, verified against the system's CAs unless SHARDFORM_ETCD_CA names others. */
  tls: boolean
}

const EXAMPLE = 'etcd://127.0.0.1:2379/shardform'

/** TLS files of etcd connections: environment variables naming PEM files. */
export const ETCD_TLS_ENV = {ca: 'SHARDFORM_ETCD_CA', cert: 'SHARDFORM_ETCD_CERT', key: 'SHARDFORM_ETCD_KEY'} as const

export interface EtcdCredentials {
  rootCertificate?: Buffer
  certChain?: Buffer
  privateKey?: Buffer
}

/**
 * etcd3's `credentials` (gRPC TLS) from SHARDFORM_ETCD_CA / _CERT / _KEY: undefined when none is set and the URL is
 * plain etcd://. Any of them set, or an etcds:// URL, means TLS. The files are read now; a missing or unreadable
 * one is a clear error naming it.
 */
export function etcdCredentials(tls: boolean, env: NodeJS.ProcessEnv = process.env): EtcdCredentials | undefined {
  const files = {
    ca: env[ETCD_TLS_ENV.ca] || undefined,
    cert: env[ETCD_TLS_ENV.cert] || undefined,
    key: env[ETCD_TLS_ENV.key] || undefined,
  }
  if (!tls && !files.ca && !files.cert && !files.key) return undefined
  if (!files.cert !== !files.key) {
    const [set, unset] = files.cert ? [ETCD_TLS_ENV.cert, ETCD_TLS_ENV.key] : [ETCD_TLS_ENV.key, ETCD_TLS_ENV.cert]
    throw new TopoError(
      'bad_url',
      `${set} is set but ${unset} is not: a client certificate for etcd needs its key (set both, or neither).`,
    )
  }
  const read = (name: string, file: string): Buffer => {
    try {
      const data = readFileSync(file)
      if (!data.length) throw new Error('the file is empty')
      return data
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      const why =
        code === 'ENOENT'
          ? 'no such file'
          : code === 'EACCES'
            ? 'permission denied'
            : code === 'EISDIR'
              ? 'is a directory'
              : (e as Error).message
      throw new TopoError('bad_url', `cannot read ${file} (named by ${name}) for TLS to etcd: ${why}.`)
    }
  }
  return {
    ...(files.ca ? {rootCertificate: read(ETCD_TLS_ENV.ca, files.ca)} : {}),
    ...(files.cert ? {certChain: read(ETCD_TLS_ENV.cert, files.cert)} : {}),
    ...(files.key ? {privateKey: read(ETCD_TLS_ENV.key, files.key)} : {}),
  }
}

/**
 * `etcd://host:port[,host:port…]/<root>` (or `etcds://…` for TLS); the root defaults to `shardform`, a missing
 * port to 2379.
 */
export function parseEtcdUrl(url: string, hint = `write it like ${EXAMPLE}`): EtcdLocation {
  const bad = (why: string) => new TopoError('bad_url', `"${url}" is not a valid etcd topology URL (${why}); ${hint}.`)
  const m = /^etcd(s?):\/\/([^/]*)(?:\/(.*))?$/.exec(url)
  if (!m) throw bad('it must start with etcd:// or etcds://')
  const tls = m[1] === 's'
  const hosts = m[2]!.split(',').map((h) => {
    const hm = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d+))?$/.exec(h)
    const port = Number(hm?.[2] ?? 2379)
    if (!hm || !(port >= 1 && port <= 65535)) throw bad(`"${h}" is not host:port`)
    return `${hm[1]}:${port}`
  })
  const root = (m[3] ?? '').replace(/^\/+|\/+$/g, '') || 'shardform'
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(root) || root.split('/').some((s) => s.startsWith('.'))) {
    throw bad(`the root "${root}" may hold only letters, digits, "_", "-", "." and "/"`)
  }
  return {hosts, root, tls}
}

export class EtcdTopoStore implements TopoStore {
  readonly url: string
  private readonly prefix: string
  private readonly watchers = new Set<() => Promise<void>>()
  private readonly locks = new Set<EtcdLockHandle>()
  private closed = false

  private constructor(
    private readonly mod: Etcd3Module,
    private readonly client: Etcd3,
    loc: EtcdLocation,
    private readonly connectTimeoutMs: number,
  ) {
    this.url = `${loc.tls ? 'etcds' : 'etcd'}://${loc.hosts.join(',')}/${loc.root}`
    this.prefix = `/${loc.root}/`
  }

  static async open(url: string, opts: EtcdTopoOptions = {}): Promise<EtcdTopoStore> {
    const loc = parseEtcdUrl(url)
    const mod = await import('etcd3')
    const callTimeoutMs = opts.callTimeoutMs ?? 5_000
    const credentials = etcdCredentials(loc.tls, opts.env)
    const client = new mod.Etcd3({
      hosts: loc.hosts,
      // rootCertificate may be absent: gRPC then verifies the server against the system's CAs.
      ...(credentials ? {credentials: credentials as IOptions['credentials']} : {}),
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : {deadline: Date.now() + callTimeoutMs}),
      faultHandling: faultHandling(mod),
      grpcOptions: {
        // Find a restarted etcd quickly, and notice a dead connection even when idle.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 2_000,
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
      },
    })
    const store = new EtcdTopoStore(mod, client, loc, opts.connectTimeoutMs ?? 5_000)
    try {
      // Fail here, with a clear message, rather than at the first real request.
      await store.call(() =>
        client.kv.range({key: store.key(''), count_only: true}, {deadline: Date.now() + store.connectTimeoutMs}),
      )
    } catch (e) {
      client.close()
      throw e
    }
    return store
  }

  // ---- reads

  async get<T>(path: string): Promise<Entry<T> | undefined> {
    checkPath(path)
    const res = await this.call(() => this.client.kv.range({key: this.key(path)}))
    const kv = res.kvs[0]
    return kv ? this.entryOf<T>(kv) : undefined
  }

  async list<T>(prefix: string): Promise<Entry<T>[]> {
    checkPrefix(prefix)
    const key = this.key(prefix)
    const res = await this.call(() =>
      this.client.kv.range({key, range_end: prefixEnd(key), sort_order: 'Ascend', sort_target: 'Key'}),
    )
    return res.kvs.map((kv) => this.entryOf<T>(kv))
  }

  // ---- writes

  async create(path: string, value: unknown): Promise<string> {
    checkPath(path)
    const key = this.key(path)
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: [{key, target: 'Create', result: 'Equal', create_revision: 0}],
        success: [{request_put: {key, value: Buffer.from(recordText(value))}}],
      }),
    )
    if (!res.succeeded) throw new TopoError('exists', `${path} already exists.`)
    return res.header.revision
  }

  async update(path: string, value: unknown, version: string): Promise<string> {
    checkPath(path)
    const key = this.key(path)
    if (!isRevision(version)) return this.refuseVersion(path, version)
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: [{key, target: 'Mod', result: 'Equal', mod_revision: version}],
        success: [{request_put: {key, value: Buffer.from(recordText(value))}}],
        failure: [{request_range: {key}}],
      }),
    )
    if (!res.succeeded) throw this.casFailure(path, version, res.responses[0]?.response_range?.kvs[0])
    return res.header.revision
  }

  async delete(path: string, version?: string): Promise<void> {
    checkPath(path)
    const key = this.key(path)
    if (version === undefined) {
      const res = await this.call(() => this.client.kv.deleteRange({key}))
      if (res.deleted === '0') throw new TopoError('not_found', `${path} does not exist.`)
      return
    }
    if (!isRevision(version)) return this.refuseVersion(path, version)
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: [{key, target: 'Mod', result: 'Equal', mod_revision: version}],
        success: [{request_delete_range: {key}}],
        failure: [{request_range: {key}}],
      }),
    )
    if (!res.succeeded) throw this.casFailure(path, version, res.responses[0]?.response_range?.kvs[0])
  }

  async commit(ops: TxnOp[]): Promise<void> {
    checkTxn(ops)
    if (ops.length === 0) return
    const guarded = ops.filter((o) => o.version !== undefined)
    for (const o of guarded) {
      if (o.version !== null && !isRevision(o.version!)) {
        const cur = await this.get(o.path)
        throw commitConflict(o.path, o.version!, cur?.version)
      }
    }
    const res = await this.call(() =>
      this.client.kv.txn({
        compare: guarded.map((o) =>
          o.version === null
            ? {key: this.key(o.path), target: 'Create', result: 'Equal', create_revision: 0}
            : {key: this.key(o.path), target: 'Mod', result: 'Equal', mod_revision: o.version!},
        ),
        success: ops.map((o): IRequestOp =>
          o.op === 'put'
            ? {request_put: {key: this.key(o.path), value: Buffer.from(recordText(o.value))}}
            : {request_delete_range: {key: this.key(o.path)}},
        ),
        // Read the guarded keys in the same transaction, to say exactly which expectation failed.
        failure: guarded.map((o) => ({request_range: {key: this.key(o.path)}})),
      }),
    )
    if (res.succeeded) return
    for (const [i, o] of guarded.entries()) {
      const cur = res.responses[i]?.response_range?.kvs[0]?.mod_revision
      if (o.version === null ? cur !== undefined : cur !== o.version) throw commitConflict(o.path, o.version!, cur)
    }
    throw new TopoError(
      'conflict',
      'commit refused, nothing written: the topology changed meanwhile; re-read and try again.',
    )
  }

  // ---- watch

  async watch<T>(
    prefix: string,
    onEvent: (ev: WatchEvent<T>) => void,
    onError?: (err: TopoError) => void,
  ): Promise<() => void> {
    checkPrefix(prefix)
    const key = this.key(prefix)
    const head = await this.call(() => this.client.kv.range({key, range_end: prefixEnd(key), count_only: true}))
    // Start right after the revision we just saw: nothing committed after this call returns can be missed.
    const w = this.client
      .watch()
      .prefix(key)
      .startRevision(String(BigInt(head.header.revision) + 1n))
      .watcher()
    let stopped = false
    const cancel = async () => {
      if (stopped) return
      stopped = true
      this.watchers.delete(cancel)
      await cancelWatcher(w)
    }
    const fail = (err: TopoError) => {
      if (stopped) return
      void cancel()
      onError?.(err)
    }
    w.on('put', (kv) => {
      if (stopped) return
      let entry: Entry<T>
      try {
        entry = this.entryOf<T>(kv)
      } catch (e) {
        return fail(e as TopoError)
      }
      onEvent({type: 'put', entry})
    })
    w.on('delete', (kv) => {
      if (!stopped) onEvent({type: 'delete', path: this.pathOf(kv.key)})
    })
    // etcd cancelled the watch (e.g. the revision was compacted away): events may be lost, so say so.
    w.on('error', (err) => fail(this.mapError(err)))
    this.watchers.add(cancel)
    try {
      await withTimeout(onceConnected(w), this.connectTimeoutMs)
    } catch (e) {
      await cancel()
      throw this.mapError(e)
    }
    return () => void cancel()
  }

  // ---- keyspace lock

  async lock(keyspace: string, opts: LockOptions): Promise<LockHandle> {
    const path = lockPath(keyspace)
    checkPath(path)
    const ttl = Math.max(1, Math.ceil(checkTtl(opts.ttlSeconds)))
    const record = newLockRecord(opts.operation)
    const key = this.key(path)
    const started = Date.now()
    const lease = this.client.lease(ttl)
    let leaseId: string
    try {
      leaseId = await this.call(() => lease.grant())
    } catch (e) {
      lease.release()
      throw e
    }
    try {
      for (;;) {
        const res = await this.call(() =>
          this.client.kv.txn({
            compare: [{key, target: 'Create', result: 'Equal', create_revision: 0}],
            success: [{request_put: {key, value: Buffer.from(recordText(record)), lease: leaseId}}],
            failure: [{request_range: {key}}],
          }),
        )
        if (res.succeeded) {
          const handle = new EtcdLockHandle(this, keyspace, record, lease, leaseId, ttl, res.header.revision)
          this.locks.add(handle)
          return handle
        }
        const kv = res.responses[0]?.response_range?.kvs[0]
        if (!kv) continue // released in between
        const waited = Date.now() - started
        if (waited >= opts.timeoutMs) {
          throw lockHeldError(
            keyspace,
            lockRecordOf(this.entryOf<LockRecord>(kv).value),
            opts.timeoutMs > 0 ? waited : undefined,
          )
        }
        await this.waitForDelete(key, res.header.revision, opts.timeoutMs - waited)
      }
    } catch (e) {
      await lease.revoke().catch(() => undefined)
      throw this.mapError(e)
    }
  }

  async readLock(keyspace: string): Promise<LockRecord | undefined> {
    const e = await this.get<LockRecord>(lockPath(keyspace))
    return e && lockRecordOf(e.value)
  }

  async forceUnlock(keyspace: string, lockId: string): Promise<LockRecord> {
    const path = lockPath(keyspace)
    const cur = await this.get<LockRecord>(path)
    if (!cur) throw new TopoError('not_found', `keyspace ${keyspace} is not locked.`)
    const holder = lockRecordOf(cur.value)
    if (holder.id !== lockId) throw wrongLockError(keyspace, holder, lockId)
    try {
      await this.delete(path, cur.version)
    } catch (e) {
      if (e instanceof TopoError && e.code === 'not_found') return holder // it went away by itself meanwhile
      throw e
    }
    return holder
  }

  async close(): Promise<void> {
    if (this.closed) return
    for (const h of [...this.locks]) await h.release().catch(() => undefined)
    await Promise.all([...this.watchers].map((cancel) => cancel()))
    this.closed = true
    this.client.close()
  }

  // ---- internals shared with the lock handle

  /** @internal */
  key(path: string): Buffer {
    return Buffer.from(this.prefix + path)
  }

  /** @internal */
  forget(handle: EtcdLockHandle): void {
    this.locks.delete(handle)
  }

  /** @internal A watcher on one key from `fromRevision` on; the caller must cancel it. */
  watchKey(key: Buffer, fromRevision: string): Watcher {
    const w = this.client.watch().key(key).startRevision(fromRevision).watcher()
    w.on('error', () => undefined)
    return w
  }

  /** @internal The raw key-value of a path, for the lock handle's check(). */
  async rawGet(key: Buffer): Promise<IKeyValue | undefined> {
    const res = await this.call(() => this.client.kv.range({key}))
    return res.kvs[0]
  }

  /** @internal Run an etcd request, turning any failure into a TopoError. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new TopoError('unavailable', `the topology store for ${this.url} is already closed.`)
    try {
      return await fn()
    } catch (e) {
      throw this.mapError(e)
    }
  }

  /** @internal */
  mapError(e: unknown): TopoError {
    if (e instanceof TopoError) return e
    const err = e as Error
    const m = this.mod
    const text = String(err?.message ?? e)
    const connection =
      err instanceof m.GRPCGenericError ||
      err instanceof m.ClientClosedError ||
      err?.name === 'BrokenCircuitError' ||
      err?.name === 'TaskCancelledError' ||
      /UNAVAILABLE|DEADLINE|ECONNREFUSED|timed out/i.test(text)
    if (connection) {
      return new TopoError(
        'unavailable',
        `cannot reach etcd at ${this.url}: ${grpcReason(text)}. Is etcd running? Start it, or set SHARDFORM_TOPO ` +
          `to the right etcd://host:port/<root>.`,
      )
    }
    return new TopoError('unavailable', `etcd at ${this.url} refused the request: ${grpcReason(text)}.`)
  }

  // ---- private

  private pathOf(key: Buffer): string {
    return key.toString('utf8').slice(this.prefix.length)
  }

  private entryOf<T>(kv: IKeyValue): Entry<T> {
    const path = this.pathOf(kv.key)
    let value: T
    try {
      value = JSON.parse(kv.value.toString('utf8')) as T
    } catch (e) {
      throw new TopoError(
        'invalid',
        `etcd key ${this.prefix}${path} at ${this.url} is not valid JSON (${(e as Error).message}); fix or delete it.`,
      )
    }
    return {path, value, version: kv.mod_revision}
  }

  private casFailure(path: string, expected: string, kv: IKeyValue | undefined): TopoError {
    if (!kv) return new TopoError('not_found', `${path} does not exist.`)
    return new TopoError(
      'conflict',
      `${path} changed since it was read (expected version ${expected}, found ${kv.mod_revision}); re-read it and try again.`,
    )
  }

  private async refuseVersion(path: string, version: string): Promise<never> {
    const cur = await this.get(path)
    if (!cur) throw new TopoError('not_found', `${path} does not exist.`)
    throw this.casFailure(path, version, {mod_revision: cur.version} as IKeyValue)
  }

  /** Resolve when `key` is deleted after `revision`, or after `ms`. */
  private async waitForDelete(key: Buffer, revision: string, ms: number): Promise<void> {
    const w = this.watchKey(key, String(BigInt(revision) + 1n))
    try {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms)
        const done = () => {
          clearTimeout(t)
          resolve()
        }
        w.on('delete', done)
        w.on('error', done)
      })
    } finally {
      void cancelWatcher(w)
    }
  }
}

class EtcdLockHandle implements LockHandle {
  readonly lost: Promise<never>
  private rejectLost!: (e: TopoError) => void
  private lostError?: TopoError
  private released = false
  private stopped = false
  private lastBeat = Date.now()
  private readonly timer: NodeJS.Timeout
  private readonly keyWatch: Watcher
  private readonly key: Buffer

  constructor(
    private readonly store: EtcdTopoStore,
    private readonly keyspace: string,
    readonly record: LockRecord,
    private readonly lease: Lease,
    private readonly leaseId: string,
    ttl: number,
    revision: string,
  ) {
    this.lost = new Promise<never>((_, reject) => (this.rejectLost = reject))
    // Nobody has to listen to `lost`; an unobserved loss must not crash the process.
    this.lost.catch(() => undefined)
    this.key = store.key(lockPath(keyspace))
    lease.on('lost', () => this.lose('its lease expired or was revoked'))
    // etcd counts the ttl from when it got the keepalive, so count from when it was sent, not answered.
    let sent = Date.now()
    lease.on('keepaliveFired', () => (sent = Date.now()))
    lease.on('keepaliveSucceeded', () => (this.lastBeat = sent))
    // The library reports a lost lease only after 2×ttl without etcd; the lease itself is gone after ttl.
    this.timer = setInterval(
      () => {
        if (Date.now() - this.lastBeat > ttl * 1000)
          this.lose(`no heartbeat reached etcd for ${ttl} s, so its lease has expired`)
      },
      Math.max(100, (ttl * 1000) / 3),
    )
    this.timer.unref()
    this.keyWatch = store.watchKey(this.key, String(BigInt(revision) + 1n))
    this.keyWatch.on('delete', () => this.lose('its record was removed (force-unlock?)'))
    if (lease.revoked()) this.lose('its lease expired before the lock was taken')
  }

  private lose(why: string): void {
    if (this.lostError || this.released) return
    this.lostError = lockLostError(this.keyspace, this.record.id, why)
    this.stop()
    // Revoke rather than let it run out: if only the key went (force-unlock), the lease is useless now.
    void this.lease.revoke().catch(() => undefined)
    this.rejectLost(this.lostError)
  }

  private stop(): void {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    this.store.forget(this)
    void cancelWatcher(this.keyWatch)
  }

  async check(): Promise<void> {
    if (this.lostError) throw this.lostError
    if (this.released) throw lockLostError(this.keyspace, this.record.id, 'it was released')
    const kv = await this.store.rawGet(this.key)
    if (!kv) this.lose('its record is gone (lease expired, or force-unlock)')
    else if (kv.lease !== this.leaseId) this.lose('it is now held by someone else')
    if (this.lostError) throw this.lostError
  }

  async release(): Promise<void> {
    if (this.released) return
    const wasLost = !!this.lostError
    this.released = true
    this.stop()
    if (wasLost) return
    // Revoking the lease deletes the lock key with it. If etcd cannot be reached the key still expires within ttl,
    // so a failed release is not worth failing the caller's (finished) work for.
    await this.lease.revoke().catch(() => undefined)
  }
}

// ---- helpers

function lockRecordOf(v: LockRecord): LockRecord {
  return {id: v.id, who: v.who, operation: v.operation, created: v.created}
}

function isRevision(v: string): boolean {
  return /^[1-9]\d*$/.test(v)
}

/** The first key after every key that starts with `key`. */
function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0])
}

/** "14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED …" → "connect ECONNREFUSED …" */
function grpcReason(text: string): string {
  let t = text.split('\n')[0]!
  const last = /Last error: (?:Error: )?(.*?)(?:\. Resolution note:.*)?$/.exec(t)
  if (last) t = last[1]!
  t = t.replace(/^\d+ [A-Z_]+: /, '').replace(/^etcdserver: /, '')
  const deadline = /^Deadline exceeded after ([\d.]+)s/.exec(t)
  if (deadline) t = `no answer within ${Number(deadline[1]).toFixed(1)} s`
  return t.replace(/[.\s]+$/, '') || 'no answer'
}

function onceConnected(w: Watcher): Promise<void> {
  return new Promise((resolve, reject) => {
    w.once('connected', () => resolve())
    w.once('error', reject)
  })
}

function withTimeout<T>(p: Promise<T>, ms: number, keepAlive = true): Promise<T> {
  let t: NodeJS.Timeout
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
      if (!keepAlive) t.unref()
    }),
  ]).finally(() => clearTimeout(t))
}

/** Cancel a watcher without waiting long for etcd to confirm (it may be down), and without holding the process. */
async function cancelWatcher(w: Watcher): Promise<void> {
  await withTimeout(w.cancel(), 2_000, false).catch(() => undefined)
}

/**
 * etcd3's defaults put a circuit breaker on each host (refusing calls for 5 s after 3 failures) and back watches
 * off up to 30 s: too slow to notice a restarted etcd. Use short, plain retries instead.
 */
function faultHandling(mod: Etcd3Module): IOptions['faultHandling'] {
  type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>
  type Backoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>
  const signal = new AbortController().signal
  const passthrough = {execute: async <T>(fn: (ctx: {signal: AbortSignal}) => T | PromiseLike<T>) => fn({signal})}
  const retry = {
    async execute<T>(fn: (ctx: {signal: AbortSignal}) => T | PromiseLike<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn({signal})
        } catch (e) {
          // Only retry what was surely never sent: a timed-out write may have been applied.
          if (attempt >= 3 || !(e instanceof mod.GRPCUnavailableError)) throw e
          await sleep(100 * attempt)
        }
      }
    },
  }
  const backoff = (ms: number): unknown => ({duration: ms, next: () => backoff(Math.min(ms * 2, 2_000))})
  return {
    host: () => passthrough as unknown as Policy,
    global: retry as unknown as Policy,
    watchBackoff: {next: () => backoff(100)} as unknown as Backoff,
  }
}
