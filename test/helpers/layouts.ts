// Layout text for tests: any set of shards, three tablets each, unique aliases and ports.
import {parseLayout} from '../../src/layout/index.js'
import type {Layout} from '../../src/layout/types.js'

export interface LayoutOptions {
  keyspace?: string
  /** Alias number of the first tablet; each shard takes the next hundred. */
  base?: number
  vschema?: string
  extra?: string
}

export const SHARDED_VSCHEMA = `vschema:
  sharded: true
  vindexes:
    hash: { type: hash }
  tables:
    messages:
      column_vindexes:
        - { column: page, name: hash }`

export function layoutText(shards: string[], opts: LayoutOptions = {}): string {
  const base = opts.base ?? 1000
  const lines = [`keyspace: ${opts.keyspace ?? 'test_keyspace'}`, opts.vschema ?? SHARDED_VSCHEMA]
  if (opts.extra) lines.push(opts.extra)
  lines.push('shards:')
  shards.forEach((name, i) => {
    const uid = base + i * 10
    lines.push(`  "${name}":`, '    tablets:')
    ;['primary', 'replica', 'rdonly'].forEach((type, j) => {
      lines.push(`      - { alias: t-${uid + j}, type: ${type}, port: ${20000 + ((uid + j) % 40000)} }`)
    })
  })
  return lines.join('\n') + '\n'
}

export function makeLayout(shards: string[], opts: LayoutOptions = {}): Layout {
  return parseLayout('test.yaml', layoutText(shards, opts))
}
