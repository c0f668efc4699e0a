// Named bearer tokens (`--token-file`): one `name: token` a line, `#` comments; the file must be mode 0600. Tokens are
// compared in constant time and never printed, not even in an error about the file.
import {createHash, timingSafeEqual} from 'node:crypto'
import {readFileSync, statSync} from 'node:fs'
import {assertPrivateFile} from '../util/private-file.js'
import {listenError} from './errors.js'

export const MIN_TOKEN_LENGTH = 16

export interface TokenSet {
  file: string
  /** The name of the token `presented` is, or undefined. */
  nameOf(presented: string): string | undefined
  readonly size: number
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest()

export function parseTokens(text: string, file: string): TokenSet {
  const byName = new Map<string, Buffer>()
  const seen = new Set<string>()
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (!line || line.startsWith('#')) return
    const where = `${file}:${i + 1}`
    const m = /^([A-Za-z0-9][A-Za-z0-9_.@-]{0,63})\s*:\s*(\S+)$/.exec(line)
    if (!m)
      throw listenError(
        `${where}: not a token line; write one "name: token" per line (name: letters, digits, . _ @ -; token: ${MIN_TOKEN_LENGTH}+ characters without spaces).`,
      )
    const [, name, token] = m as unknown as [string, string, string]
    if (token.length < MIN_TOKEN_LENGTH)
      throw listenError(
        `${where}: the token of ${name} is shorter than ${MIN_TOKEN_LENGTH} characters; make one with: openssl rand -hex 24`,
      )
    if (byName.has(name)) throw listenError(`${where}: the name ${name} appears twice; give each token its own name.`)
    if (seen.has(token))
      throw listenError(`${where}: the token of ${name} is also another name's; give each name its own token.`)
    seen.add(token)
    byName.set(name, digest(token))
  })
  if (!byName.size) throw listenError(`${file} holds no token; write one "name: token" per line.`)
  return {
    file,
    size: byName.size,
    nameOf(presented: string): string | undefined {
      const d = digest(presented)
      let found: string | undefined
      // Every entry is compared, so the time does not tell which name matched.
      for (const [name, want] of byName) if (timingSafeEqual(d, want) && !found) found = name
      return found
    },
  }
}

/** Read and check the token file: mode 0600 (like the credentials file), at least one well-formed token. */
export function loadTokenFile(file: string): TokenSet {
  let st
  try {
    st = statSync(file)
  } catch (e) {
    throw listenError(
      `cannot read the token file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}.`,
      `Create it with one "name: token" per line and mode 0600.`,
    )
  }
  assertPrivateFile(file, st, 'API tokens')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw listenError(`cannot read the token file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}.`)
  }
  return parseTokens(text, file)
}
