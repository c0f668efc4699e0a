import type {VindexValue} from '../keyspace/vindexes/index.js'

/** A value typed on the command line: NULL is SQL NULL, 0x… is raw bytes, anything else is text. */
export function cliValue(text: string): VindexValue {
  if (text === 'NULL') return null
  if (/^0x([0-9a-fA-F]{2})*$/.test(text)) return Buffer.from(text.slice(2), 'hex')
  return text
}
