// Talking to `shardform server --listen` in tests: requests with a token and an Origin, server-sent events read with
// fetch (waiting for an event that matches, never for a time), and /metrics parsed into samples.
import {request as httpRequest} from 'node:http'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    if (!m) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push({name: m[1]!, labels, value: Number(m[3])})
  }
  return out
}

export class Api {
  constructor(
    readonly base: string,
    readonly token?: string,
  ) {}

  headers(extra: Record<string, string>, token: string | undefined): Record<string, string> {
    return {...(token ? {authorization: `Bearer ${token}`} : {}), ...extra}
  }

  async get(
    path: string,
    opts: {token?: string | null; headers?: Record<string, string>} = {},
  ): Promise<{status: number; text: string; json: any; type: string; headers: Headers}> {
    const token = opts.token === null ? undefined : (opts.token ?? this.token)
    const r = await fetch(this.base + path, {headers: this.headers(opts.headers ?? {}, token)})
    const text = await r.text()
    return {status: r.status, text, json: parse(text), type: r.headers.get('content-type') ?? '', headers: r.headers}
  }

  async post(path: string, body?: unknown, opts: {token?: string | null; origin?: string} = {}) {
    const token = opts.token === null ? undefined : (opts.token ?? this.token)
    const headers = this.headers(
      {
        ...(body === undefined ? {} : {'content-type': 'application/json'}),
        ...(opts.origin ? {origin: opts.origin} : {}),
      },
      token,
    )
    const r = await fetch(this.base + path, {
      method: 'POST',
      headers,
      ...(body === undefined ? {} : {body: JSON.stringify(body)}),
    })
    const text = await r.text()
    return {status: r.status, json: parse(text), text}
  }

  async metrics(): Promise<Sample[]> {
    const r = await this.get('/metrics')
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.text}`)
    return parseMetrics(r.text)
  }

  /** Follow a server-sent event stream. */
  async events(path: string): Promise<EventReader> {
    const ac = new AbortController()
    const r = await fetch(this.base + path, {headers: this.headers({}, this.token), signal: ac.signal})
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${await r.text()}`)
    return new EventReader(r, ac)
  }
}

function parse(text: string): any {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export interface Sse {
  event: string
  id?: string
  data: any
}

export class EventReader {
  readonly seen: Sse[] = []
  private waiters: Array<() => void> = []
  private ended = false

  constructor(
    readonly response: Response,
    private readonly ac: AbortController,
  ) {
    void this.pump()
  }

  private async pump(): Promise<void> {
    const dec = new TextDecoder()
    let buf = ''
    try {
      for await (const chunk of this.response.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, {stream: true})
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const ev: Partial<Sse> & {lines: string[]} = {lines: []}
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) ev.event = line.slice(7)
            else if (line.startsWith('id: ')) ev.id = line.slice(4)
            else if (line.startsWith('data: ')) ev.lines.push(line.slice(6))
          }
          if (!ev.event) continue
          this.seen.push({event: ev.event, ...(ev.id ? {id: ev.id} : {}), data: JSON.parse(ev.lines.join('\n'))})
          this.wake()
        }
      }
    } catch {
      // aborted
    } finally {
      this.ended = true
      this.wake()
    }
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /** The first event from index `from` on that matches (waits for it to arrive; rejects when the stream ends). */
  async next(match: (e: Sse) => boolean, from = 0, what = 'an event'): Promise<{e: Sse; index: number}> {
    for (;;) {
      for (let i = from; i < this.seen.length; i++) if (match(this.seen[i]!)) return {e: this.seen[i]!, index: i}
      if (this.ended) throw new Error(`the event stream ended before ${what}`)
      await new Promise<void>((r) => this.waiters.push(r))
    }
  }

  close(): void {
    this.ac.abort()
  }
}

/** A GET with headers fetch() will not send (Host): node:http. */
export function rawGet(url: string, headers: Record<string, string>): Promise<{status: number; json: any}> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {headers}, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => resolve({status: res.statusCode ?? 0, json: parse(text)}))
    })
    req.on('error', reject)
    req.end()
  })
}
