// Checks a schema cannot express: shard names and coverage, vschema consistency, tablets.
import {
  checkCoverageOf,
  describeCoverageProblem,
  isValidShardName,
  parseShardName,
  type KeyRange,
} from '../keyspace/keyrange.js'
import {vschemaProblems, type VSchema} from '../keyspace/vschema.js'
import type {DocPath} from './source.js'

export interface RawTablet {
  alias: string
  type: string
  host?: string
  port: number
}

export interface SemanticProblem {
  path: DocPath
  atKey: boolean
  message: string
  /** Set when the problem is inside a separate vschema file. */
  inVSchemaFile?: boolean
}

/** Each valid shard name's key range; the invalid names as problems. */
export function shardRanges(names: string[]): {ranges: Map<string, KeyRange>; problems: SemanticProblem[]} {
  const ranges = new Map<string, KeyRange>()
  const problems: SemanticProblem[] = []
  for (const name of names) {
    try {
      ranges.set(name, parseShardName(name))
    } catch (err) {
      problems.push({path: ['shards', name], atKey: true, message: (err as Error).message})
    }
  }
  return {ranges, problems}
}

/** Coverage (when every name is valid), one primary per shard, unique aliases and host:port pairs. */
export function shardProblems(
  shards: Record<string, {tablets: RawTablet[]}>,
  ranges: Map<string, KeyRange>,
  defaultHost: string,
): SemanticProblem[] {
  const out: SemanticProblem[] = []
  const names = Object.keys(shards)
  if (ranges.size === names.length) {
    for (const p of checkCoverageOf([...ranges].map(([name, kr]) => ({name, kr})))) {
      const at = p.shards.length ? ['shards', p.shards[p.shards.length - 1]] : ['shards']
      out.push({
        path: at,
        atKey: p.shards.length > 0,
        message: `${describeCoverageProblem(p)}; the shards must cover the whole keyspace exactly once`,
      })
    }
  }
  const aliases = new Map<string, string>()
  const endpoints = new Map<string, string>()
  for (const name of names) {
    const tablets = shards[name].tablets
    const primaries = tablets.filter((t) => t.type === 'primary' || t.type === 'master')
    if (primaries.length !== 1) {
      out.push({
        path: ['shards', name, 'tablets'],
        atKey: false,
        message:
          primaries.length === 0
            ? `shard "${name}" has no primary tablet; exactly one tablet must be type: primary`
            : `shard "${name}" has ${primaries.length} primary tablets (${primaries.map((t) => t.alias).join(', ')}); exactly one is allowed`,
      })
    }
    for (let i = 0; i < tablets.length; i++) {
      const t = tablets[i]
      const prevAlias = aliases.get(t.alias)
      if (prevAlias)
        out.push({
          path: ['shards', name, 'tablets', i, 'alias'],
          atKey: false,
          message: `tablet alias "${t.alias}" is already used in shard "${prevAlias}"; aliases must be unique`,
        })
      else aliases.set(t.alias, name)
      const ep = `${t.host ?? defaultHost}:${t.port}`
      const prevEp = endpoints.get(ep)
      if (prevEp)
        out.push({
          path: ['shards', name, 'tablets', i, 'port'],
          atKey: false,
          message: `${ep} is already used by tablet ${prevEp}; each tablet needs its own host:port`,
        })
      else endpoints.set(ep, t.alias)
    }
  }
  return out
}

export function vschemaSemanticProblems(vs: VSchema, shardNames: string[], vschemaPath: DocPath): SemanticProblem[] {
  const out: SemanticProblem[] = vschemaProblems(vs).map(([p, message]) => ({
    path: [...vschemaPath, ...p],
    atKey: false,
    message,
  }))
  if (!vs.sharded && shardNames.length > 1) {
    out.push({
      path: [...vschemaPath, 'sharded'],
      atKey: false,
      message: `the vschema is unsharded but the layout declares ${shardNames.length} shards; set sharded: true and give every table a primary vindex`,
    })
  }
  if (
    !vs.sharded &&
    shardNames.length === 1 &&
    isValidShardName(shardNames[0]) &&
    parseShardName(shardNames[0]).end.length + parseShardName(shardNames[0]).start.length !== 0
  ) {
    out.push({path: [...vschemaPath, 'sharded'], atKey: false, message: `an unsharded keyspace has a single shard "0"`})
  }
  return out
}
