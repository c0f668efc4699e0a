// Starting the HTTP side: check --listen and --token-file before anything else starts, then listen.
import {buildApp, type HttpOptions} from './app.js'
import {listenError} from './errors.js'
import {parseListen, type ListenAddress} from './listen.js'
import {loadTokenFile, type TokenSet} from './tokens.js'

export interface HttpConfig {
  address: ListenAddress
  tokens?: TokenSet
}

/** The checked settings; throws a one-paragraph error (exit 1) for a bad address, a missing or readable token file. */
export function httpConfig(listen: string, tokenFile: string | undefined): HttpConfig {
  const address = parseListen(listen)
  if (!address.loopback && !tokenFile)
    throw listenError(
      `not listening on ${address.host}:${address.port} without a token file: any host that reaches that address could ` +
        `approve cutovers. Give --token-file FILE (one "name: token" per line, mode 0600), or listen on 127.0.0.1 only.`,
      `e.g. (umask 077; echo "ops: $(openssl rand -hex 24)" > tokens) && shardform server --listen ${address.host}:${address.port} --token-file tokens`,
    )
  return {address, ...(tokenFile ? {tokens: loadTokenFile(tokenFile)} : {})}
}

export interface RunningHttp {
  /** e.g. http://127.0.0.1:7780 (the port chosen when --listen gave 0). */
  url: string
  close(): Promise<void>
}

export async function startHttp(o: Omit<HttpOptions, 'tokens'>, cfg: HttpConfig): Promise<RunningHttp> {
  const {app, close} = await buildApp({...o, ...(cfg.tokens ? {tokens: cfg.tokens} : {})})
  try {
    await app.listen({host: cfg.address.host, port: cfg.address.port})
  } catch (e) {
    await close().catch(() => undefined)
    const code = (e as NodeJS.ErrnoException).code
    throw listenError(
      `cannot listen on ${cfg.address.host}:${cfg.address.port}: ${code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied' : (e as Error).message}.`,
      'Pick another port with --listen HOST:PORT.',
    )
  }
  const a = app.server.address()
  const port = a && typeof a === 'object' ? a.port : cfg.address.port
  const host = cfg.address.host.includes(':') ? `[${cfg.address.host}]` : cfg.address.host
  return {url: `http://${host}:${port}`, close}
}
