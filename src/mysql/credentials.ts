// Passwords come from environment variables named in the tablet records, or from a credentials file (mode 0600)
// that maps those names to values. They never enter the topology, plans, logs or output.
import {randomBytes} from 'node:crypto'
import {chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync} from 'node:fs'
import {dirname, resolve} from 'node:path'
import {ShardformError} from '../errors.js'
import {assertPrivateFile} from '../util/private-file.js'

export const DEFAULT_CREDENTIALS_FILE = '.shardform/credentials.json'

export function credentialsFile(): string {
  return process.env.SHARDFORM_CREDENTIALS_FILE || DEFAULT_CREDENTIALS_FILE
}

let cache: {file: string; mtimeMs: number; values: Record<string, string>} | undefined

function fileValues(file: string): Record<string, string> | undefined {
  let st
  try {
    st = statSync(file)
  } catch {
    return undefined
  }
  assertPrivateFile(file, st, 'passwords')
  if (cache && cache.file === file && cache.mtimeMs === st.mtimeMs) return cache.values
  let values: Record<string, string>
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
    values = JSON.parse(text)
  } catch (err) {
    // Never V8's message: it quotes the text around the error, i.e. part of a password.
    const at = /at position (\d+)/.exec((err as Error).message)?.[1]
    const where = at === undefined ? '' : ` (line ${lineCol(text, Number(at))})`
    const why = (err as NodeJS.ErrnoException).code
      ? `cannot read it: ${(err as NodeJS.ErrnoException).code}`
      : `it is not valid JSON${where}`
    throw new ShardformError(
      `${file}: not a valid credentials file (a JSON object of VARIABLE_NAME: "password"): ${why}`,
    )
  }
  if (!values || typeof values !== 'object' || Array.isArray(values)) {
    throw new ShardformError(`${file}: a credentials file is a JSON object of VARIABLE_NAME: password`)
  }
  cache = {file, mtimeMs: st.mtimeMs, values}
  return values
}

/** "3, column 7" for an offset into `text` (no content: the text holds passwords). */
function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  return `${line}, column ${offset - before.lastIndexOf('\n')}`
}

/** The password held by the variable `name`: the environment first, then the credentials file. */
export function lookupPassword(name: string | undefined): string | undefined {
  if (!name) return undefined
  const env = process.env[name]
  if (env !== undefined) return env
  const v = fileValues(credentialsFile())?.[name]
  return typeof v === 'string' ? v : undefined
}

/** Like lookupPassword, but a missing password is an error that says where to put it. */
export function requirePassword(name: string | undefined, what: string): string {
  if (!name) return ''
  const v = lookupPassword(name)
  if (v === undefined) {
    throw new ShardformError(
      `no password for ${what}: set the environment variable ${name}, or add "${name}" to ${credentialsFile()} (mode 0600)`,
    )
  }
  return v
}

/**
 * Merge `values` (VARIABLE_NAME → password) into the credentials file, creating it (and its folder) with mode 0600.
 * Written atomically (temporary file + rename). Returns the file's path.
 */
export function savePasswords(values: Record<string, string>, file = credentialsFile()): string {
  const current = fileValues(file) ?? {}
  const merged = {...current, ...values}
  mkdirSync(dirname(resolve(file)), {recursive: true, mode: 0o700})
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(tmp, JSON.stringify(merged, null, 2) + '\n', {mode: 0o600})
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
  cache = undefined
  return file
}

/** A random password: 24 characters of [A-Za-z0-9], safe in any quoting. */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  const bytes = randomBytes(48)
  let out = ''
  for (const b of bytes) {
    if (b < 248) out += alphabet[b % 62]
    if (out.length === 24) break
  }
  return out.length === 24 ? out : out + generatePassword().slice(0, 24 - out.length)
}

/**
 * The password held by each variable, generating (and saving to the credentials file) those that are set nowhere.
 * `generated` lists the variables that were created now; never print their values.
 */
export function ensurePasswords(names: Iterable<string>): {
  values: Record<string, string>
  generated: string[]
  file: string
} {
  const values: Record<string, string> = {}
  const fresh: Record<string, string> = {}
  for (const name of new Set(names)) {
    const v = lookupPassword(name)
    if (v !== undefined) values[name] = v
    else values[name] = fresh[name] = generatePassword()
  }
  const file = credentialsFile()
  if (Object.keys(fresh).length) savePasswords(fresh, file)
  return {values, generated: Object.keys(fresh), file}
}
