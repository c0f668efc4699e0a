// How a record's value is stored in etcd: pretty JSON (readable with etcdctl) up to COMPRESS_OVER bytes; above that,
// compact JSON compressed with gzip. etcd refuses a request over --max-request-bytes (1.5 MiB by default) and a
// workflow record holds its whole plan: a 256 → 512 split's is a few MB as text and a tenth of that compressed.
import {gunzipSync, gzipSync} from 'node:zlib'
import {recordText} from './store.js'

/** Text records larger than this are stored compressed (etcd's own guidance: keep values well under 1 MiB). */
export const COMPRESS_OVER = 512 * 1024

/** The bytes stored for a record. */
export function encodeValue(value: unknown): Buffer {
  const text = recordText(value)
  if (text.length <= COMPRESS_OVER) return Buffer.from(text)
  return gzipSync(JSON.stringify(value))
}

/** The record's JSON text, whichever way it was stored (gzip starts with 1f 8b, which no JSON text does). */
export function decodeValue(bytes: Buffer): string {
  return bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8')
}
