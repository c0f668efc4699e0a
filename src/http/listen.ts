// `server --listen HOST:PORT`: where the HTTP side binds, and whether that address is loopback-only.
import {isIP} from 'node:net'
import {listenError} from './errors.js'

export interface ListenAddress {
  host: string
  port: number
  /** Only this machine can connect (127.0.0.0/8, ::1, localhost). */
  loopback: boolean
}

/** "127.0.0.1:7780", ":7780" or "7780" (host 127.0.0.1), "0.0.0.0:7780", "[::1]:7780", "localhost:7780". */
export function parseListen(text: string): ListenAddress {
  const t = text.trim()
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(t) ?? /^()()(\d+)$/.exec(t)
  const host = (m?.[1] || m?.[2] || '127.0.0.1').toLowerCase()
  const port = Number(m?.[3])
  if (
    !m ||
    !Number.isInteger(port) ||
    port < 0 ||
    port > 65535 ||
    (host !== 'localhost' && !isIP(host) && !/^[a-z0-9.-]+$/.test(host))
  ) {
    throw listenError(
      `--listen ${JSON.stringify(text)} is not an address to listen on: write HOST:PORT, e.g. --listen 127.0.0.1:7780 (or [::1]:7780).`,
    )
  }
  return {host, port, loopback: isLoopbackHost(host)}
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h)
}

/** The host part of a Host header ("127.0.0.1:7780" → "127.0.0.1", "[::1]:80" → "::1"). */
export function hostOf(hostHeader: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(hostHeader)
  if (m) return m[1]!
  return hostHeader.replace(/:\d+$/, '')
}
