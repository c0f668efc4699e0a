// The local cluster's server TLS, without servers: the my.cnf lines an instance gets, and the files checked (and made
// absolute) before any mariadbd starts — one started without its certificate would refuse every TCP client.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {ShardformError} from '../../src/errors.js'
import {instancePaths, renderMyCnf} from '../../src/local/mariadb.js'
import {checkLocalTls, tlsServerConfig} from '../../src/local/tls.js'

const dir = mkdtempSync(join(tmpdir(), 'sf-local-tls-'))
for (const f of ['ca.pem', 'server.pem', 'server.key']) writeFileSync(join(dir, f), 'pem')
const files = {ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key')}

afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('local cluster TLS', () => {
  it('an instance with TLS serves it with the given files and refuses plain TCP clients', () => {
    const cnf = renderMyCnf(
      {
        alias: 'a-1',
        role: 'replica',
        port: 3310,
        serverId: 3310,
        bufferPool: '32M',
        extraConfig: tlsServerConfig(files),
      },
      instancePaths(join(dir, 'a-1')),
    )
    expect(cnf.split('\n').slice(-5)).toEqual([
      `ssl_ca=${files.ca}`,
      `ssl_cert=${files.cert}`,
      `ssl_key=${files.key}`,
      'require_secure_transport=ON',
      '',
    ])
  })

  it('relative paths are made absolute; a missing file is a clear error naming it', () => {
    const rel = {ca: relative(process.cwd(), files.ca), cert: files.cert, key: files.key}
    expect(checkLocalTls(rel)).toEqual(files)
    const missing = join(dir, 'nope.key')
    let err: unknown
    try {
      checkLocalTls({...files, key: missing})
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ShardformError)
    expect(err).toMatchObject({
      code: 'local.tls_file',
      summary: `cannot read the server key ${missing} for the local cluster's TLS`,
      hint: 'Fix the path, or make the file readable by this user.',
    })
  })
})
