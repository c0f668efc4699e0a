// Passwords come only from environment variables or a credentials file of mode 0600; errors about them name the
// variable and the file but never show a password — not even a piece of a credentials file that does not parse.
import {chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeEach, describe, expect, it} from 'vitest'
import {ShardformError} from '../../src/errors.js'
import {tabletOptions} from '../../src/mysql/connect.js'
import {ensurePasswords, lookupPassword, requirePassword, savePasswords} from '../../src/mysql/credentials.js'
import {plan, savePlan} from '../../src/plan/index.js'
import {bootstrapRecords} from '../../src/layout/init.js'
import {guestbook, stateOf} from '../helpers/state.js'

const dir = mkdtempSync(join(tmpdir(), 'sf-creds-'))
const SECRET = 'Pw-7f3a9c-Secret-Value'
const saved = {...process.env}
let n = 0
let file: string

beforeEach(() => {
  file = join(dir, `c${n++}.json`)
  process.env.SHARDFORM_CREDENTIALS_FILE = file
  delete process.env.SF_TEST_PW
})
afterEach(() => {
  for (const k of ['SHARDFORM_CREDENTIALS_FILE', 'SF_TEST_PW']) {
    if (saved[k] === undefined) delete process.env[k]
    else process.env[k] = saved[k]
  }
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function message(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ShardformError)
    return (err as Error).message
  }
  throw new Error('expected an error')
}

describe('the credentials file', () => {
  it('is refused when group or others may read it, naming the file and chmod 600', () => {
    writeFileSync(file, JSON.stringify({SF_TEST_PW: SECRET}))
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o666, 0o700 | 0o004]) {
      chmodSync(file, mode)
      const m = message(() => lookupPassword('SF_TEST_PW'))
      expect(m).toBe(
        `${file} holds passwords but other users can read it (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
      )
      expect(m).not.toContain(SECRET)
    }
    for (const mode of [0o600, 0o400]) {
      chmodSync(file, mode)
      expect(lookupPassword('SF_TEST_PW')).toBe(SECRET)
    }
  })

  it('the environment wins over the file; a name set nowhere is an error naming the variable and the file', () => {
    writeFileSync(file, JSON.stringify({SF_TEST_PW: 'from-file'}), {mode: 0o600})
    process.env.SF_TEST_PW = SECRET
    expect(lookupPassword('SF_TEST_PW')).toBe(SECRET)
    expect(message(() => requirePassword('SF_NOT_SET_ANYWHERE', 'user "app" of tablet t-1'))).toBe(
      `no password for user "app" of tablet t-1: set the environment variable SF_NOT_SET_ANYWHERE, or add "SF_NOT_SET_ANYWHERE" to ${file} (mode 0600)`,
    )
  })

  it('a file that does not parse is refused without quoting it (JSON.parse messages quote the text: a password)', () => {
    for (const text of [
      `PASSWORD=${SECRET}\n`,
      `{"SF_TEST_PW": ${SECRET}}`,
      `{"SF_TEST_PW": "${SECRET}`,
      `{"SF_TEST_PW": "${SECRET}",}`,
      `\n\n  ${SECRET}`,
    ]) {
      writeFileSync(file, text, {mode: 0o600})
      chmodSync(file, 0o600)
      const m = message(() => lookupPassword('SF_TEST_PW'))
      expect(m).toMatch(
        new RegExp(
          `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a valid credentials file \\(a JSON object of VARIABLE_NAME: "password"\\): it is not valid JSON`,
        ),
      )
      for (let i = 0; i + 4 <= SECRET.length; i++) expect(m, text).not.toContain(SECRET.slice(i, i + 4))
    }
    writeFileSync(file, '[1, 2]', {mode: 0o600})
    expect(message(() => lookupPassword('SF_TEST_PW'))).toBe(
      `${file}: a credentials file is a JSON object of VARIABLE_NAME: password`,
    )
  })

  it('generated passwords are saved with mode 0600 (folder 0700), merged with what is there, and returned only to the caller', () => {
    const nested = join(dir, `new-${n++}`, 'credentials.json')
    process.env.SHARDFORM_CREDENTIALS_FILE = nested
    savePasswords({SF_A: 'a'}, nested)
    const res = ensurePasswords(['SF_A', 'SF_GEN_1', 'SF_GEN_2'])
    expect(res.generated).toEqual(['SF_GEN_1', 'SF_GEN_2'])
    expect(res.values.SF_A).toBe('a')
    expect(res.values.SF_GEN_1).toMatch(/^[A-Za-z0-9]{24}$/)
    expect(statSync(nested).mode & 0o777).toBe(0o600)
    expect(statSync(join(nested, '..')).mode & 0o777).toBe(0o700)
    expect(JSON.parse(readFileSync(nested, 'utf8'))).toEqual(res.values)
  })
})

describe('what shardform records', () => {
  it('tablet records and saved plans name variables; connection options carry the value only in memory', () => {
    process.env.SHARDFORM_ADMIN_PASSWORD = SECRET
    process.env.SHARDFORM_MYSQL_PASSWORD = `${SECRET}-app`
    try {
      const layout = guestbook('1-shard.yaml')
      const recs = bootstrapRecords(layout)
      const state = stateOf(layout)
      const planFile = join(dir, 'p.plan')
      savePlan(planFile, plan(state, guestbook('2-shards.yaml')), state)
      const text = JSON.stringify(recs) + readFileSync(planFile, 'utf8')
      expect(text).toContain('"adminPasswordEnv":"SHARDFORM_ADMIN_PASSWORD"')
      expect(text).not.toContain(SECRET)
      expect(tabletOptions(recs.tablets[0]!, 'admin').password).toBe(SECRET)
      expect(tabletOptions(recs.tablets[0]!, 'app').password).toBe(`${SECRET}-app`)
    } finally {
      for (const k of ['SHARDFORM_ADMIN_PASSWORD', 'SHARDFORM_MYSQL_PASSWORD']) {
        if (saved[k] === undefined) delete process.env[k]
        else process.env[k] = saved[k]
      }
    }
  })
})
