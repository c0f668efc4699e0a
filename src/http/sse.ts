// Server-sent events on a fastify reply: `event: <name>`, `id: <n>`, one `data:` line of JSON, a blank line; a comment
// line every 15 s keeps proxies from closing an idle stream.
import type {FastifyReply, FastifyRequest} from 'fastify'

export interface EventStream {
  send(event: string, data: unknown, id?: number | string): void
  /** Resolves when the client went away (or the server closed the stream). */
  readonly closed: Promise<void>
  close(): void
}

export function openEventStream(req: FastifyRequest, reply: FastifyReply, streams: Set<() => void>): EventStream {
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  res.write(': shardform event stream\n\n')
  let done!: () => void
  const closed = new Promise<void>((r) => (done = r))
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000)
  keepAlive.unref()
  let isClosed = false
  const close = () => {
    if (isClosed) return
    isClosed = true
    clearInterval(keepAlive)
    streams.delete(close)
    res.end()
    done()
  }
  streams.add(close)
  req.raw.on('close', close)
  res.on('close', close)
  return {
    send(event, data, id) {
      if (isClosed) return
      res.write(`event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`)
    },
    closed,
    close,
  }
}
