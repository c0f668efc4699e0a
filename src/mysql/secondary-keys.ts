// Deferred secondary keys (settings.deferSecondaryKeys, as Vitess's --defer-secondary-keys): a destination table is
// created with its primary key only, loaded, and then given its other keys in one ALTER TABLE. Works on the CREATE
// TABLE text MariaDB prints (SHOW CREATE TABLE: one column or key per line).
import {qid} from './connect.js'

/** A secondary key line of SHOW CREATE TABLE: KEY, UNIQUE KEY, FULLTEXT KEY or SPATIAL KEY. */
const KEY_LINE = /^\s+(?:UNIQUE |FULLTEXT |SPATIAL )?KEY /

/**
 * The CREATE TABLE without its secondary keys, and those keys' definitions in their order. A table with foreign keys
 * keeps its keys (the engine would create an index of its own for a foreign key whose index is missing).
 */
export function splitSecondaryKeys(create: string): {table: string; keys: string[]} {
  const lines = create.split('\n')
  if (lines.some((l) => /^\s+CONSTRAINT .* FOREIGN KEY /.test(l))) return {table: create, keys: []}
  const keys = lines.filter((l) => KEY_LINE.test(l)).map((l) => l.trim().replace(/,$/, ''))
  if (!keys.length) return {table: create, keys: []}
  const kept = lines.filter((l) => !KEY_LINE.test(l))
  // The last definition before the closing `) ENGINE=…` line loses its comma.
  const close = kept.findIndex((l) => /^\)/.test(l))
  if (close > 0) kept[close - 1] = kept[close - 1]!.replace(/,$/, '')
  return {table: kept.join('\n'), keys}
}

/** The keys of `want` (a source's CREATE TABLE) that `have` (a destination's) lacks, in `want`'s order. */
export function missingKeys(want: string, have: string): string[] {
  const present = new Set(splitSecondaryKeys(have).keys)
  return splitSecondaryKeys(want).keys.filter((k) => !present.has(k))
}

/** One ALTER TABLE adding `keys` (online: other sessions keep writing the table meanwhile). */
export function addKeysStatement(database: string, table: string, keys: string[]): string {
  return `ALTER TABLE ${qid(database)}.${qid(table)} ${keys.map((k) => `ADD ${k}`).join(', ')}, ALGORITHM=INPLACE, LOCK=NONE`
}
