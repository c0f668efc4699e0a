// One connection to etcd for a topology root: key names, JSON records, and every failure as a clear TopoError.
// etcd3 is loaded only in connect(), so commands that never touch etcd do not pay for it.
import type {Etcd3, IKeyValue, IOptions} from 'etcd3'
import {etcdCredentials, parseEtcdUrl} from './etcd-url.js'
import {setTimeout as sleep} from 'node:timers/promises'
import {faultHandling, neverSent, readRetryable, type Etcd3Module} from './etcd-retry.js'
import {TopoError, type Entry} from './store.js'
import {decodeValue} from './etcd-value.js'

export interface EtcdTopoOptions {
  /** Deadline of each request (ms). */
  callTimeoutMs?: number
  /** How long open() and watch() wait for etcd to answer (ms). */
  connectTimeoutMs?: number
  /** Where SHARDFORM_ETCD_CA / _CERT / _KEY are read (default process.env). */
  env?: NodeJS.ProcessEnv
}

export class EtcdClient {
  readonly url: string
  closed = false
  private readonly prefix: string

  private constructor(
    private readonly mod: Etcd3Module,
    readonly client: Etcd3,
    url: string,
    readonly connectTimeoutMs: number,
    private readonly callTimeoutMs: number,
  ) {
    const loc = parseEtcdUrl(url)
    this.url = `${loc.tls ? 'etcds' : 'etcd'}://${loc.hosts.join(',')}/${loc.root}`
    this.prefix = `/${loc.root}/`
  }

  static async connect(url: string, opts: EtcdTopoOptions = {}): Promise<EtcdClient> {
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
        // Listing workflows reads every kept run's record: no 4 MiB cap on what etcd sends back.
        'grpc.max_receive_message_length': -1,
      },
    })
    const c = new EtcdClient(mod, client, url, opts.connectTimeoutMs ?? 5_000, callTimeoutMs)
    try {
      // Fail here, with a clear message, rather than at the first real request.
      await c.call(
        () => client.kv.range({key: c.key(''), count_only: true}, {deadline: Date.now() + c.connectTimeoutMs}),
        {read: true},
      )
    } catch (e) {
      client.close()
      throw e
    }
    return c
  }

  close(): void {
    this.closed = true
    this.client.close()
  }

  key(path: string): Buffer {
    return Buffer.from(this.prefix + path)
  }

  pathOf(key: Buffer): string {
    return key.toString('utf8').slice(this.prefix.length)
  }

  entryOf<T>(kv: IKeyValue): Entry<T> {
    const path = this.pathOf(kv.key)
    let value: T
    try {
      value = JSON.parse(decodeValue(kv.value)) as T
    } catch (e) {
      throw new TopoError(
        'invalid',
        `etcd key ${this.prefix}${path} at ${this.url} is not valid JSON (${(e as Error).message}); fix or delete it.`,
      )
    }
    return {path, value, version: kv.mod_revision}
  }

  /** The raw key-value of a key, if any. */
  async rawGet(key: Buffer): Promise<IKeyValue | undefined> {
    const res = await this.call(() => this.client.kv.range({key}), {read: true})
    return res.kvs[0]
  }

  /**
   * Run an etcd request, turning any failure into a TopoError. A read is asked again (for up to the call timeout)
   * while the cluster elects a leader or a member drops; a write is not: its failure may hide a commit, which only
   * the caller can check (the workflow writer recognises its own write).
   */
  async call<T>(fn: () => Promise<T>, opts: {read?: boolean} = {}): Promise<T> {
    if (this.closed) throw new TopoError('unavailable', `the topology store for ${this.url} is already closed.`)
    const started = Date.now()
    for (let delay = 100; ; delay = Math.min(delay * 2, 1_000)) {
      try {
        return await fn()
      } catch (e) {
        const again =
          opts.read &&
          !this.closed &&
          readRetryable(this.mod, e) &&
          !neverSent(this.mod, e) &&
          Date.now() - started + delay < this.callTimeoutMs
        if (!again) throw this.mapError(e)
        await sleep(delay)
      }
    }
  }

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
    // Larger than etcd accepts: failing again will not help, and it is not an outage.
    if (/too many operations in txn request|request is too large|larger than max/i.test(text)) {
      return new TopoError(
        'too_large',
        `etcd at ${this.url} refused a write as too large: ${grpcReason(text)}. etcd takes at most --max-txn-ops ` +
          `operations per transaction (default 128) and --max-request-bytes per request (default 1.5 MiB); raise ` +
          `them on every member (e.g. --max-request-bytes=10485760), or make the change in smaller steps.`,
      )
    }
    // A member answered but could not serve it: no leader (an election, or quorum lost).
    if (err instanceof m.GRPCUnavailableError && /etcdserver: /.test(text)) {
      return new TopoError(
        'unavailable',
        `etcd at ${this.url} could not serve the request: ${grpcReason(text)} (a leader election, or too few ` +
          `members up). Check the members with: etcdctl endpoint status --cluster.`,
      )
    }
    if (connection) {
      return new TopoError(
        'unavailable',
        `cannot reach etcd at ${this.url}: ${grpcReason(text)}. Is etcd running? Start it, or set SHARDFORM_TOPO ` +
          `to the right etcd://host:port/<root>.`,
      )
    }
    return new TopoError('unavailable', `etcd at ${this.url} refused the request: ${grpcReason(text)}.`)
  }
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
