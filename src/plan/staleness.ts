// Say what changed between two topology snapshots, in terms a reviewer recognises.
import {canonicalJSON} from '../util/canonical.js'

interface Snap {
  keyspace?: {vschema?: unknown; database?: string}
  shards?: Array<{name: string}>
  srvKeyspace?: {partitions?: Record<string, string[]>}
  tablets?: Array<{alias: string}>
  workflows?: string[]
}

function byName<T>(items: T[] | undefined, key: (t: T) => string): Map<string, string> {
  return new Map((items ?? []).map((t) => [key(t), canonicalJSON(t)]))
}

function diffSet(label: string, a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = []
  for (const k of b.keys()) if (!a.has(k)) out.push(`${label} ${k} was added`)
  for (const k of a.keys()) if (!b.has(k)) out.push(`${label} ${k} was removed`)
  for (const [k, v] of a) if (b.has(k) && b.get(k) !== v) out.push(`${label} ${k} changed`)
  return out
}

export function explainTopologyChange(before: unknown, after: unknown): string[] {
  const a = (before ?? {}) as Snap
  const b = (after ?? {}) as Snap
  if (!before && after) return ['the keyspace was created']
  if (before && !after) return ['the keyspace no longer exists']
  const out: string[] = []
  if (canonicalJSON(a.keyspace?.vschema) !== canonicalJSON(b.keyspace?.vschema)) out.push('the vschema changed')
  out.push(
    ...diffSet(
      'shard',
      byName(a.shards, (s) => s.name),
      byName(b.shards, (s) => s.name),
    ),
  )
  for (const type of ['primary', 'replica', 'rdonly']) {
    const x = a.srvKeyspace?.partitions?.[type] ?? []
    const y = b.srvKeyspace?.partitions?.[type] ?? []
    if (canonicalJSON(x) !== canonicalJSON(y))
      out.push(`${type} traffic moved: ${x.join(', ') || 'none'} → ${y.join(', ') || 'none'}`)
  }
  out.push(
    ...diffSet(
      'tablet',
      byName(a.tablets, (t) => t.alias),
      byName(b.tablets, (t) => t.alias),
    ),
  )
  const wa = new Set(a.workflows ?? [])
  for (const w of b.workflows ?? []) if (!wa.has(w)) out.push(`workflow ${w} started`)
  for (const w of wa) if (!(b.workflows ?? []).includes(w)) out.push(`workflow ${w} finished`)
  return out.length ? out : ['the topology records differ']
}
