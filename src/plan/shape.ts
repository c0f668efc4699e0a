// The structure of a plan read from a file. A checksum catches edits, not forgeries (anyone can recompute it): a
// plan whose structure is wrong is refused before anything is written, instead of failing half-way.
import {isValidShardName} from '../keyspace/keyrange.js'
import {PHASES, REVERT_PHASES} from './types.js'

const PHASE_NAMES = new Set<string>([...PHASES, ...REVERT_PHASES].map((p) => p.name))
const HEX = /^(?:[0-9a-f]{2})*$/

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)
const isStr = (v: unknown): v is string => typeof v === 'string'
const strArray = (v: unknown) => Array.isArray(v) && v.every(isStr)
const keyRange = (v: unknown) => isObj(v) && isStr(v.start) && isStr(v.end) && HEX.test(v.start) && HEX.test(v.end)

/** What is wrong with a plan's structure (empty when it is a plan shardform can run). */
export function planShapeProblems(p: unknown): string[] {
  const out: string[] = []
  const need = (ok: boolean, what: string) => {
    if (!ok) out.push(what)
  }
  if (!isObj(p)) return ['the plan is not an object']
  need(isStr(p.keyspace) && /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(p.keyspace), 'keyspace is not a keyspace name')
  need(
    ['reshard', 'update', 'revert', 'noop'].includes(p.kind as string),
    'kind is not one of reshard, update, revert, noop',
  )
  need(isStr(p.fingerprint), 'fingerprint is missing')
  const cur = p.current
  need(
    isObj(cur) &&
      Array.isArray(cur.shards) &&
      cur.shards.every((s) => isObj(s) && isStr(s.name) && keyRange(s.keyRange)) &&
      isObj(cur.vschema),
    'current is not {shards: [{name, keyRange}], vschema}',
  )
  const d = p.desired
  const desiredOk =
    isObj(d) &&
    isStr(d.file) &&
    isStr(d.database) &&
    isObj(d.vschema) &&
    isObj(d.settings) &&
    isObj(d.approvals) &&
    Array.isArray(d.shards) &&
    d.shards.every(
      (s) =>
        isObj(s) &&
        isStr(s.name) &&
        isValidShardName(s.name) &&
        keyRange(s.keyRange) &&
        Array.isArray(s.tablets) &&
        s.tablets.every(
          (t) => isObj(t) && isStr(t.alias) && isStr(t.type) && isStr(t.host) && Number.isInteger(t.port),
        ),
    )
  need(desiredOk, 'desired is not {file, database, vschema, settings, approvals, shards: [{name, keyRange, tablets}]}')
  const groups = p.groups
  need(
    Array.isArray(groups) &&
      groups.every((g) => isObj(g) && isStr(g.range) && strArray(g.sources) && strArray(g.destinations)),
    'groups is not a list of {range, sources, destinations}',
  )
  const nGroups = Array.isArray(groups) ? groups.length : 0
  need(Array.isArray(p.changes) && p.changes.every(isObj), 'changes is not a list')
  need(Array.isArray(p.notes) && p.notes.every(isStr), 'notes is not a list of text')
  const phases = p.phases
  if (!Array.isArray(phases)) out.push('phases is not a list')
  else {
    const ids = new Set<string>()
    phases.forEach((ph, i) => {
      if (!isObj(ph) || !isStr(ph.name) || !PHASE_NAMES.has(ph.name))
        return out.push(`phase ${i + 1} is not a phase shardform knows`)
      need(ph.mode === 'parallel' || ph.mode === 'sequential', `phase ${ph.name}: mode is not parallel or sequential`)
      need(
        ph.gate === 'canary' || ph.gate === 'phase' || ph.gate === 'none',
        `phase ${ph.name}: gate is not canary, phase or none`,
      )
      if (!Array.isArray(ph.tasks) || !ph.tasks.length)
        return out.push(`phase ${ph.name}: tasks is not a non-empty list`)
      for (const t of ph.tasks) {
        if (!isObj(t) || !isStr(t.id) || !isStr(t.shard) || !isStr(t.detail)) {
          out.push(`phase ${ph.name}: a task is not {id, shard, detail}`)
          continue
        }
        need(
          t.group === undefined ||
            (Number.isInteger(t.group) && (t.group as number) >= 0 && (t.group as number) < nGroups),
          `task ${t.id}: group is not one of the plan's groups`,
        )
        need(!ids.has(t.id), `task ${t.id} appears twice`)
        ids.add(t.id)
      }
    })
  }
  return out
}
