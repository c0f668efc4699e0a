// TLS of the local cluster's instances: each mariadbd serves TLS with one server certificate and accepts no plain TCP
// connection (require_secure_transport; root keeps its unix socket), and replicas reach their primary over TLS.
import {accessSync, constants} from 'node:fs'
import {resolve} from 'node:path'
import {ShardformError} from '../errors.js'

/** PEM files for the instances: the CA that signed the server certificate, the certificate and its key. */
export interface LocalTls {
  ca: string
  cert: string
  key: string
}

/** The same files with absolute paths (my.cnf and CHANGE MASTER are read relative to other folders), checked readable. */
export function checkLocalTls(tls: LocalTls): LocalTls {
  const out = {ca: resolve(tls.ca), cert: resolve(tls.cert), key: resolve(tls.key)}
  for (const [what, file] of [
    ['CA certificate', out.ca],
    ['server certificate', out.cert],
    ['server key', out.key],
  ] as const) {
    try {
      accessSync(file, constants.R_OK)
    } catch {
      // mariadbd would start without TLS and, with require_secure_transport, refuse every TCP client.
      throw new ShardformError(`cannot read the ${what} ${file} for the local cluster's TLS`, {
        code: 'local.tls_file',
        hint: 'Fix the path, or make the file readable by this user.',
      })
    }
  }
  return out
}

/** my.cnf lines of an instance that serves only TLS on TCP. */
export function tlsServerConfig(tls: LocalTls): string[] {
  return [`ssl_ca=${tls.ca}`, `ssl_cert=${tls.cert}`, `ssl_key=${tls.key}`, 'require_secure_transport=ON']
}
