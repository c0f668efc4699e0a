// Who may call the API. With a token file: every /api/ and /metrics request needs `Authorization: Bearer <token>`
// (its name is who approved). Without one (loopback only): anyone on this machine, but the Host header must name a
// loopback host (a page on another site cannot reach us by DNS rebinding). Either way a state-changing request whose
// Origin is not our own is refused (403) before anything is read or written.
import type {FastifyInstance, FastifyRequest} from 'fastify'
import {HttpError} from './errors.js'
import {hostOf, isLoopbackHost} from './listen.js'
import type {TokenSet} from './tokens.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The token's name (token file), or `loopback` (no token file). */
    principal?: string
  }
}

/** What approvals record as `by` when no token file is in use. */
export const LOOPBACK_PRINCIPAL = 'anonymous (http, loopback)'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

export function needsAuth(url: string): boolean {
  const path = url.split('?')[0]!
  return path.startsWith('/api/') || path === '/metrics'
}

export function installAuth(app: FastifyInstance, tokens: TokenSet | undefined): void {
  app.decorateRequest('principal', undefined)
  app.addHook('onRequest', async (req) => {
    if (!tokens) checkLoopbackHost(req)
    if (!SAFE.has(req.method)) checkOrigin(req)
    if (!needsAuth(req.url)) return
    req.principal = tokens ? principalOf(req, tokens) : LOOPBACK_PRINCIPAL
  })
  // API answers are data for one caller: not to be cached by a proxy, not to be sniffed into something else.
  app.addHook('onSend', async (req, reply) => {
    if (!needsAuth(req.url)) return
    reply.header('cache-control', 'no-store')
    reply.header('x-content-type-options', 'nosniff')
  })
}

function principalOf(req: FastifyRequest, tokens: TokenSet): string {
  const h = req.headers.authorization
  if (!h)
    throw new HttpError(401, 'unauthorized', 'this server needs a token: send Authorization: Bearer <token>.', {
      hint: `Use a token from the server's token file (${tokens.size} name(s) in it).`,
    })
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h)
  const name = m ? tokens.nameOf(m[1]!) : undefined
  if (!name)
    throw new HttpError(401, 'unauthorized', "the token sent is not one of this server's tokens.", {
      hint: 'Send Authorization: Bearer <token> with a token from the token file given to shardform server --token-file.',
    })
  return name
}

function checkOrigin(req: FastifyRequest): void {
  const origin = req.headers.origin
  if (origin === undefined) return
  // Host and port, not the scheme: behind a proxy that ends TLS the page is https:// while we see http://.
  let host: string | undefined
  try {
    host = new URL(origin).host
  } catch {
    host = undefined
  }
  const own = req.headers.host
  if (!host || !own || host !== own.toLowerCase())
    throw new HttpError(403, 'forbidden_origin', `requests from ${origin} may not change anything here.`, {
      hint: `Only pages served by this server (${own ?? 'its own origin'}) may send state-changing requests.`,
    })
}

function checkLoopbackHost(req: FastifyRequest): void {
  const host = req.headers.host
  if (host && isLoopbackHost(hostOf(host))) return
  throw new HttpError(
    403,
    'forbidden_host',
    `this server answers only to a loopback host name, not ${host ?? '(none)'}.`,
    {
      hint: 'Open it as http://127.0.0.1:PORT/ or http://localhost:PORT/; to serve other hosts, give --token-file.',
    },
  )
}
