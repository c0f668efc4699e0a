// TLS option plumbing, without servers: the layout's tls (defaults and per tablet) → Layout → tablet records and
// saved plans carry the file PATHS only; connection options (mysql2, and so zongji) carry the file CONTENTS, read
// when connecting; a missing or unreadable file is a clear error naming it. etcd: etcds:// and SHARDFORM_ETCD_*.
import {chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ShardformError} from '../../src/errors.js'
import {LayoutError, parseLayout} from '../../src/layout/index.js'
import {tabletOptions, tlsOptions} from '../../src/mysql/connect.js'
import {plan, savePlan} from '../../src/plan/index.js'
import {etcdCredentials, parseEtcdUrl} from '../../src/topo/etcd.js'
import {bootstrapRecords} from '../../src/layout/init.js'
import {parseTopoUrl} from '../../src/topo/open.js'
import {TopoError} from '../../src/topo/store.js'
import {guestbook, stateOf} from '../helpers/state.js'

const dir = mkdtempSync(join(tmpdir(), 'sf-tls-unit-'))
const PEM = {
  ca: '-----BEGIN CERTIFICATE-----\nQ0EgY2VydGlmaWNhdGUgY29udGVudHM=\n-----END CERTIFICATE-----\n',
  cert: '-----BEGIN CERTIFICATE-----\nY2xpZW50IGNlcnQgY29udGVudHM=\n-----END CERTIFICATE-----\n',
  key: '-----BEGIN PRIVATE KEY-----\nU0VDUkVUIEtFWSBNQVRFUklBTA==\n-----END PRIVATE KEY-----\n',
}

beforeAll(() => {
  for (const [k, v] of Object.entries(PEM)) writeFileSync(join(dir, `${k}.pem`), v, {mode: 0o600})
  writeFileSync(join(dir, 'other-ca.pem'), PEM.ca.replace('Q0Eg', 'T1RI'))
  writeFileSync(join(dir, 'empty.pem'), '')
  process.env.SHARDFORM_MYSQL_PASSWORD ??= 'x'
  process.env.SHARDFORM_ADMIN_PASSWORD ??= 'y'
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const layoutYaml = (defaultsTls: string, tabletTls = '') => `keyspace: ks
defaults:
  tls: ${defaultsTls}
shards:
  "0":
    tablets:
      - { alias: t-1, type: primary, port: 3301${tabletTls} }
      - { alias: t-2, type: replica, port: 3302 }
`

describe('MySQL TLS: layout → records → connection options', () => {
  it('defaults apply to every tablet, a tablet overrides field by field; relative paths are relative to the layout', () => {
    const l = parseLayout(
      join(dir, 'l.yaml'),
      layoutYaml(
        '{ca: ca.pem, cert: cert.pem, key: key.pem}',
        `, tls: { ca: ${join(dir, 'other-ca.pem')}, verifyServerCert: false }`,
      ),
    )
    const [t1, t2] = l.shards[0]!.tablets
    expect(t1!.tls).toEqual({
      ca: join(dir, 'other-ca.pem'),
      cert: join(dir, 'cert.pem'),
      key: join(dir, 'key.pem'),
      verifyServerCert: false,
    })
    expect(t2!.tls).toEqual({ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem')})
    expect(parseLayout('l.yaml', layoutYaml('{}')).shards[0]!.tablets[0]!.tls).toEqual({})
    expect(guestbook('1-shard.yaml').shards[0]!.tablets[0]!.tls).toBeUndefined()
  })

  it('the schema refuses a cert without its key, unknown keys, and values that are not paths', () => {
    const problems = (tls: string) => {
      try {
        parseLayout('l.yaml', layoutYaml(tls))
      } catch (err) {
        expect(err).toBeInstanceOf(LayoutError)
        return (err as Error).message.split('\n')[0]
      }
      return 'accepted'
    }
    expect(problems('{cert: c.pem}')).toBe('l.yaml:3:8: defaults.tls: "cert" needs "key" as well')
    expect(problems('{key: k.pem}')).toBe('l.yaml:3:8: defaults.tls: "key" needs "cert" as well')
    expect(problems('{ca: x, keyfile: k}')).toMatch(
      /defaults\.tls\.keyfile: unknown key "keyfile"; allowed keys: ca, cert, key, verifyServerCert$/,
    )
    expect(problems('{ca: 5}')).toMatch(/defaults\.tls\.ca: must be a string$/)
    expect(problems('{ca: ""}')).toMatch(/defaults\.tls\.ca: /)
    expect(problems('{ca: "a\\nb"}')).toMatch(/defaults\.tls\.ca: must be a file path \(no control characters\)$/)
    expect(problems('{verifyServerCert: "no"}')).toMatch(/verifyServerCert: must be a boolean$/)
    expect(problems('true')).toMatch(/defaults\.tls: must be a mapping$/)
  })

  it('tablet records and saved plans carry the paths, never the contents', () => {
    const l = parseLayout(join(dir, 'l.yaml'), layoutYaml('{ca: ca.pem, cert: cert.pem, key: key.pem}'))
    const recs = bootstrapRecords(l)
    expect(recs.tablets[0]!.tls).toEqual({
      ca: join(dir, 'ca.pem'),
      cert: join(dir, 'cert.pem'),
      key: join(dir, 'key.pem'),
    })
    const state = stateOf(l)
    const file = join(dir, 'p.plan')
    const l2 = parseLayout(
      join(dir, 'l2.yaml'),
      layoutYaml('{ca: ca.pem, cert: cert.pem, key: key.pem}').replace(
        'port: 3302 }',
        'port: 3302 }\n      - { alias: t-3, type: rdonly, port: 3303 }',
      ),
    )
    savePlan(file, plan(state, l2), state)
    const text = readFileSync(file, 'utf8') + JSON.stringify(recs)
    expect(text).toContain(join(dir, 'key.pem'))
    for (const pem of Object.values(PEM)) expect(text).not.toContain(pem.split('\n')[1])
  })

  it('adding or changing tls on registered tablets is planned as a tablet update (update_tablets)', () => {
    const plain = parseLayout(
      join(dir, 'l.yaml'),
      layoutYaml('{}')
        .replace(/ {2}tls: \{\}\n/, '')
        .replace('defaults:\n', ''),
    )
    const withTls = parseLayout(join(dir, 'l.yaml'), layoutYaml('{ca: ca.pem}'))
    const p = plan(stateOf(plain), withTls)
    expect(p.kind).toBe('update')
    expect(p.changes.map((c) => [c.action, c.kind, c.name, c.detail])).toEqual([
      ['update', 'tablet', 't-1', `tls: - → {"ca":"${join(dir, 'ca.pem')}"}`],
      ['update', 'tablet', 't-2', `tls: - → {"ca":"${join(dir, 'ca.pem')}"}`],
    ])
    expect(p.phases.map((ph) => ph.name)).toEqual(['update_tablets'])
    expect(plan(stateOf(withTls), withTls).kind).toBe('noop')
  })

  it('connection options read the files when connecting: CA, client certificate and key; verification on by default', () => {
    const l = parseLayout(
      join(dir, 'l.yaml'),
      layoutYaml('{ca: ca.pem, cert: cert.pem, key: key.pem}', ', tls: {verifyServerCert: false}'),
    )
    const [r1, r2] = bootstrapRecords(l).tablets
    const o2 = tabletOptions(r2!, 'admin')
    expect(o2.ssl).toEqual({
      ca: Buffer.from(PEM.ca),
      cert: Buffer.from(PEM.cert),
      key: Buffer.from(PEM.key),
      rejectUnauthorized: true,
      verifyIdentity: false,
    })
    expect(tabletOptions(r1!, 'app').ssl).toMatchObject({rejectUnauthorized: false, verifyIdentity: false})
    // The binlog reader builds its connections from the same options (BinlogReader → tabletOptions(…, 'admin')).
    expect(tabletOptions(r2!, 'admin', {charset: 'UTF8MB4_BIN'}).ssl).toEqual(o2.ssl)
    // No tls: no ssl option at all (plain connections, as before).
    expect('ssl' in tabletOptions(bootstrapRecords(guestbook('1-shard.yaml')).tablets[0]!, 'admin')).toBe(false)
    // Only what is named is read; `tls: {}` means TLS verified against the system's CAs.
    expect(tlsOptions({alias: 'x', host: 'db1.example.com', tls: {}})).toEqual({
      rejectUnauthorized: true,
      verifyIdentity: true,
    })
    expect(tlsOptions({alias: 'x', host: 'db1', tls: {ca: join(dir, 'ca.pem')}})).toEqual({
      ca: Buffer.from(PEM.ca),
      rejectUnauthorized: true,
      verifyIdentity: true,
    })
    // A tablet addressed by IP: the chain is verified, the name cannot be (see tlsOptions).
    expect(tlsOptions({alias: 'x', host: '10.0.0.7', tls: {}})).toEqual({
      rejectUnauthorized: true,
      verifyIdentity: false,
    })
    expect(tlsOptions({alias: 'x', host: '::1', tls: {}})).toEqual({rejectUnauthorized: true, verifyIdentity: false})
  })

  it('a missing, empty, unreadable file or a directory is a clear error naming the tablet and the file', () => {
    const err = (tls: object) => {
      try {
        tabletOptions(
          {
            alias: 't-9',
            host: '127.0.0.1',
            port: 1,
            user: 'app',
            adminUser: 'shardform',
            adminPasswordEnv: 'SHARDFORM_ADMIN_PASSWORD',
            tls,
          },
          'admin',
        )
      } catch (e) {
        expect(e).toBeInstanceOf(ShardformError)
        return (e as Error).message
      }
      return 'no error'
    }
    expect(err({ca: join(dir, 'nope.pem')})).toBe(
      `tablet t-9: cannot read the TLS CA certificate ${join(dir, 'nope.pem')}: no such file. Fix the path under tls: in the layout (defaults or the tablet) and apply it, or make the file readable.`,
    )
    expect(err({ca: join(dir, 'ca.pem'), cert: join(dir, 'empty.pem'), key: join(dir, 'key.pem')})).toContain(
      `cannot read the TLS client certificate ${join(dir, 'empty.pem')}: the file is empty`,
    )
    expect(err({ca: dir})).toContain(`cannot read the TLS CA certificate ${dir}: is a directory`)
    if (process.getuid?.() !== 0) {
      chmodSync(join(dir, 'key.pem'), 0o000)
      expect(err({cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem')})).toContain('permission denied')
      chmodSync(join(dir, 'key.pem'), 0o600)
    }
  })
})

describe('etcd TLS: etcds:// and SHARDFORM_ETCD_CA / _CERT / _KEY', () => {
  it('etcds:// is a topology URL that asks for TLS', () => {
    expect(parseEtcdUrl('etcds://10.0.0.1:2379,10.0.0.2/sf')).toEqual({
      hosts: ['10.0.0.1:2379', '10.0.0.2:2379'],
      root: 'sf',
      tls: true,
    })
    expect(parseEtcdUrl('etcd://h:1/x').tls).toBe(false)
    expect(parseTopoUrl('etcds://h:2379/a/b')).toEqual({kind: 'etcd', url: 'etcds://h:2379/a/b'})
    expect(() => parseTopoUrl('etcdx://h/x')).toThrow(TopoError)
  })

  it('credentials: none for plain etcd://; system CAs for etcds://; the files named by the variables otherwise', () => {
    expect(etcdCredentials(false, {})).toBeUndefined()
    expect(etcdCredentials(true, {})).toEqual({})
    const env = {
      SHARDFORM_ETCD_CA: join(dir, 'ca.pem'),
      SHARDFORM_ETCD_CERT: join(dir, 'cert.pem'),
      SHARDFORM_ETCD_KEY: join(dir, 'key.pem'),
    }
    // A variable set means TLS, even with an etcd:// URL.
    expect(etcdCredentials(false, env)).toEqual({
      rootCertificate: Buffer.from(PEM.ca),
      certChain: Buffer.from(PEM.cert),
      privateKey: Buffer.from(PEM.key),
    })
    expect(etcdCredentials(true, {SHARDFORM_ETCD_CA: env.SHARDFORM_ETCD_CA})).toEqual({
      rootCertificate: Buffer.from(PEM.ca),
    })
  })

  it('a cert without its key, or an unreadable file, is a clear error naming the variable and the file', () => {
    expect(() => etcdCredentials(true, {SHARDFORM_ETCD_CERT: join(dir, 'cert.pem')})).toThrow(
      'SHARDFORM_ETCD_CERT is set but SHARDFORM_ETCD_KEY is not: a client certificate for etcd needs its key (set both, or neither).',
    )
    expect(() => etcdCredentials(true, {SHARDFORM_ETCD_CA: join(dir, 'nope.pem')})).toThrow(
      `cannot read ${join(dir, 'nope.pem')} (named by SHARDFORM_ETCD_CA) for TLS to etcd: no such file.`,
    )
    expect(() => etcdCredentials(true, {SHARDFORM_ETCD_CA: join(dir, 'empty.pem')})).toThrow(/the file is empty/)
  })
})
