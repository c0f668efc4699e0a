// Deferred secondary keys (settings.deferSecondaryKeys, as Vitess's --defer-secondary-keys): a destination table is
// created without its secondary keys, loaded, and then given all of them in one ALTER TABLE. Pure text work on the
// CREATE TABLE that SHOW CREATE TABLE prints (one definition per line, two-space indent).
import {qid} from './connect.js'

export interface SplitTable {
  /** The CREATE TABLE without the deferred keys (the whole statement when nothing can be deferred). */
  base: string
  /** The deferred key definitions, in the order SHOW CREATE TABLE lists them (e.g. "KEY `k` (`a`,`b`)"). */
  keys: string[]
  /** Why nothing is deferred, when keys is empty although the table has secondary keys. */
  kept?: string
}

const SECONDARY = /^ {2}(UNIQUE )?KEY /
const DEFINITION = /^ {2}\S/

/**
 * Splits plain and UNIQUE secondary keys off a CREATE TABLE. Unique keys are deferred too (as Vitess does): the rows
 * come from sources that enforced them, and the ALTER that adds them fails loudly if a merge broke one. Tables are
 * kept whole when deferring could change them: foreign keys need their index while rows arrive, an AUTO_INCREMENT
 * column must lead some key, and FULLTEXT/SPATIAL keys sort after the others (adding keys later would reorder them).
 */
export function splitSecondaryKeys(create: string): SplitTable {
  const lines = create.split('\n')
  const keyLines = lines.filter((l) => SECONDARY.test(l))
  if (!keyLines.length) return {base: create, keys: []}
  const keep = (kept: string): SplitTable => ({base: create, keys: [], kept})
  if (lines.some((l) => /^ {2}CONSTRAINT .* FOREIGN KEY /.test(l) || /^ {2}FOREIGN KEY /.test(l)))
    return keep('it has foreign keys')
  if (lines.some((l) => /^ {2}(FULLTEXT|SPATIAL) KEY /.test(l))) return keep('it has FULLTEXT or SPATIAL keys')
  const pk = lines.find((l) => l.startsWith('  PRIMARY KEY ('))
  const firstPk = pk ? /^ {2}PRIMARY KEY \((`(?:[^`]|``)*`)/.exec(pk)?.[1] : undefined
  for (const l of lines) {
    const col = /^ {2}(`(?:[^`]|``)*`) .* AUTO_INCREMENT/.exec(l)
    if (col && col[1] !== firstPk) return keep('its AUTO_INCREMENT column does not lead the primary key')
  }
  const rest = lines.filter((l) => !SECONDARY.test(l))
  // The last definition before the closing ") ENGINE=…" line must lose its trailing comma.
  const close = rest.findIndex((l) => l.startsWith(')'))
  let last = close - 1
  while (last > 0 && !DEFINITION.test(rest[last]!)) last--
  if (close < 0 || last <= 0) return keep('its CREATE TABLE has an unexpected shape')
  rest[last] = rest[last]!.replace(/,$/, '')
  return {base: rest.join('\n'), keys: secondaryKeys(create)}
}

/** Every plain and UNIQUE secondary key definition of a CREATE TABLE, deferrable or not. */
export function secondaryKeys(create: string): string[] {
  return create
    .split('\n')
    .filter((l) => SECONDARY.test(l))
    .map((l) => l.trim().replace(/,$/, ''))
}

/** One ALTER TABLE adding these keys (one statement, so InnoDB builds them together and the change is atomic). */
export function addKeysStatement(database: string, table: string, keys: string[]): string {
  return `ALTER TABLE ${qid(database)}.${qid(table)} ${keys.map((k) => `ADD ${k}`).join(', ')}`
}
