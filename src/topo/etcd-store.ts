// The etcd backend: records as pretty JSON under /<root>/, versions are mod revisions, the keyspace lock is a key
// bound to a lease (etcd-lock.ts).
import type {IKeyValue, IRequestOp} from 'etcd3'
import {EtcdClient, type EtcdTopoOptions} from './etcd-client.js'
import {EtcdLocks} from './etcd-lock.js'
import {prefixEnd, watchPrefix} from './etcd-watch.js'
import {LockingStore} from './locking-store.js'
import {encodeValue} from './etcd-value.js'
import {
  checkPath,
  checkPrefix,
  checkTxn,
  commitConflict,
  TopoError,
  type Entry,
  type ListOptions,
  type TopoStore,
  type TxnOp,
  type WatchEvent,
} from './store.js'

export class EtcdTopoStore extends LockingStore implements TopoStore {
  readonly url: string
  private readonly watchers = new Set<() => Promise<void>>()
  protected readonly keyspaceLocks: EtcdLocks
  private closed = false

  private constructor(private readonly c: EtcdClient) {
    super()
    this.url = c.url
    this.keyspaceLocks = new EtcdLocks(c, this, this.held)
  }

  static async open(url: string, opts: EtcdTopoOptions = {}): Promise<EtcdTopoStore> {
    return new EtcdTopoStore(await EtcdClient.connect(url, opts))
  }

  // ---- reads

  async get<T>(path: string): Promise<Entry<T> | undefined> {
    checkPath(path)
    const res = await this.c.call(() => this.c.client.kv.range({key: this.c.key(path)}), {read: true})
    const kv = res.kvs[0]
    return kv ? this.c.entryOf<T>(kv) : undefined
  }

  async list<T>(prefix: string, opts: ListOptions = {}): Promise<Entry<T>[]> {
    checkPrefix(prefix)
    const key = this.c.key(prefix)
    const res = await this.c.call(
      () => this.c.client.kv.range({key, range_end: prefixEnd(key), sort_order: 'Ascend', sort_target: 'Key'}),
      {read: true},
    )
    return res.kvs.map((kv) => {
      const known = opts.reuse?.get(this.c.pathOf(kv.key))
      return known?.version === kv.mod_revision ? (known as Entry<T>) : this.c.entryOf<T>(kv)
    })
  }

  // ---- writes

  async create(path: string, value: unknown): Promise<string> {
    checkPath(path)
    const key = this.c.key(path)
    const res = await this.c.call(() =>
      this.c.client.kv.txn({
        compare: [{key, target: 'Create', result: 'Equal', create_revision: 0}],
        success: [{request_put: {key, value: encodeValue(value)}}],
      }),
    )
    if (!res.succeeded) throw new TopoError('exists', `${path} already exists.`)
    return res.header.revision
  }

  async update(path: string, value: unknown, version: string): Promise<string> {
    checkPath(path)
    const key = this.c.key(path)
    if (!isRevision(version)) return this.refuseVersion(path, version)
    const res = await this.c.call(() =>
      this.c.client.kv.txn({
        compare: [{key, target: 'Mod', result: 'Equal', mod_revision: version}],
        success: [{request_put: {key, value: encodeValue(value)}}],
        failure: [{request_range: {key}}],
      }),
    )
    if (!res.succeeded) throw this.casFailure(path, version, res.responses[0]?.response_range?.kvs[0])
    return res.header.revision
  }

  async delete(path: string, version?: string): Promise<void> {
    checkPath(path)
    const key = this.c.key(path)
    if (version === undefined) {
      const res = await this.c.call(() => this.c.client.kv.deleteRange({key}))
      if (res.deleted === '0') throw new TopoError('not_found', `${path} does not exist.`)
      return
    }
    if (!isRevision(version)) return this.refuseVersion(path, version)
    const res = await this.c.call(() =>
      this.c.client.kv.txn({
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
    const res = await this.c.call(() =>
      this.c.client.kv.txn({
        compare: guarded.map((o) =>
          o.version === null
            ? {key: this.c.key(o.path), target: 'Create', result: 'Equal', create_revision: 0}
            : {key: this.c.key(o.path), target: 'Mod', result: 'Equal', mod_revision: o.version!},
        ),
        success: ops.map((o): IRequestOp =>
          o.op === 'put'
            ? {request_put: {key: this.c.key(o.path), value: encodeValue(o.value)}}
            : {request_delete_range: {key: this.c.key(o.path)}},
        ),
        // Read the guarded keys in the same transaction, to say exactly which expectation failed.
        failure: guarded.map((o) => ({request_range: {key: this.c.key(o.path)}})),
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
    return watchPrefix(this.c, prefix, onEvent, onError, this.watchers)
  }

  async close(): Promise<void> {
    if (this.closed) return
    await this.releaseHeld()
    await Promise.all([...this.watchers].map((cancel) => cancel()))
    this.closed = true
    this.c.close()
  }

  // ---- private

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
}

function isRevision(v: string): boolean {
  return /^[1-9]\d*$/.test(v)
}
