// Where an etcd topology is (etcd:// and etcds:// URLs) and the TLS files its connections use.
import {readFileSync} from 'node:fs'
import {TopoError} from './store.js'

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
