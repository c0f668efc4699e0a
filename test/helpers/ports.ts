// Free TCP ports on 127.0.0.1, for servers started by tests.
import {createServer, type Server} from 'node:net'

/** A port that was free a moment ago (the OS picks it; we release it for the caller to bind). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!
}

/** `n` distinct free ports: all are held open together so the OS cannot hand out one twice. */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < n; i++) {
      const srv = createServer()
      servers.push(srv)
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject)
        srv.listen(0, '127.0.0.1', () => resolve())
      })
    }
    return servers.map((s) => {
      const addr = s.address()
      if (addr === null || typeof addr === 'string') throw new Error('listening socket has no port')
      return addr.port
    })
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  }
}
