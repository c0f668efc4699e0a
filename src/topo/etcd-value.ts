// How a record's value is stored in etcd: pretty JSON (readable with etcdctl) up to COMPRESS_OVER bytes; above that,
// compact JSON compressed with gzip. A workflow record holds its whole plan and is written about once a second while
// tasks report progress: a 32 → 64 split's is ~0.4 MiB of text, ~20 KiB compressed, and every write is kept in etcd's
// history until compaction. A 256 → 512 split's (3.7 MiB) would not fit etcd's request limit (1.5 MiB) at all.
import {gunzipSync, gzipSync} from 'node:zlib'
import {recordText} from './store.js'

/** Text records larger than this are stored compressed: in practice workflow records beyond a few shards. */
export const COMPRESS_OVER = 64 * 1024

/** The bytes stored for a record. */
export function encodeValue(value: unknown): Buffer {
  // Compact JSON over the limit means the pretty text is too: a large record (written every second or so while tasks
  // report progress) is stringified once, not twice.
  const compact = JSON.stringify(value) as string | undefined
  if (compact !== undefined && compact.length > COMPRESS_OVER) return gzipSync(compact)
  const text = recordText(value)
  return text.length <= COMPRESS_OVER ? Buffer.from(text) : gzipSync(compact!)
}

/** The record's JSON text, whichever way it was stored (gzip starts with 1f 8b, which no JSON text does). */
export function decodeValue(bytes: Buffer): string {
  return bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8')
}
