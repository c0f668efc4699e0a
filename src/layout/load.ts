// Read a layout file: YAML → schema → semantic checks → Layout. Every problem carries file:line:col.
import {dirname, resolve} from 'node:path'
import {keyRangeToJSON} from '../keyspace/keyrange.js'
import type {VSchema} from '../keyspace/vschema.js'
import {ShardformError} from '../errors.js'
import type {TabletType} from '../topo/records.js'
import {layoutValidator, schemaProblems, vschemaValidator} from './schema.js'
import {shardProblems, shardRanges, vschemaSemanticProblems, type RawTablet, type SemanticProblem} from './semantic.js'
import {formatProblems, SourceDoc, UnreadableFileError, type Problem} from './source.js'
import {
  DEFAULT_SETTINGS,
  TABLET_DEFAULTS,
  type GatePolicy,
  type Layout,
  type ShardSpec,
  type TabletSpec,
  type TlsFiles,
} from './types.js'

export class LayoutError extends ShardformError {
  override name = 'LayoutError'
  constructor(readonly problems: Problem[]) {
    super(formatProblems(problems), {code: 'layout'})
  }
}

interface RawLayout {
  keyspace: string
  database?: string
  vschema?: string | VSchema
  defaults?: Partial<typeof TABLET_DEFAULTS> & {tls?: TlsFiles}
  approvals?: {default?: GatePolicy; phases?: Record<string, GatePolicy>}
  settings?: Partial<typeof DEFAULT_SETTINGS>
  shards: Record<string, {tablets: Array<RawTablet & Record<string, unknown>>}>
}

/** Load and validate a layout file; throws LayoutError listing every problem found. */
export function loadLayout(file: string): Layout {
  const {source, problems} = SourceDoc.read(file)
  if (!source || problems.length) throw new LayoutError(problems)
  return layoutFromSource(source)
}

/** Parse layout text (for tests and for layouts embedded in plans). */
export function parseLayout(file: string, text: string): Layout {
  const {source, problems} = SourceDoc.parse(file, text)
  if (!source || problems.length) throw new LayoutError(problems)
  return layoutFromSource(source)
}

function layoutFromSource(source: SourceDoc): Layout {
  const raw = source.value
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new LayoutError([
      source.problem(
        [],
        'a layout must be a mapping with keyspace, vschema and shards (see plans/guestbook/2-shards.yaml)',
      ),
    ])
  }
  const problems: Problem[] = schemaProblems(layoutValidator, raw).map((p) =>
    source.problem(p.path, p.message, p.atKey),
  )
  if (problems.length) throw new LayoutError(problems)
  const layout = raw as RawLayout

  let vschema: VSchema = layout.vschema && typeof layout.vschema === 'object' ? layout.vschema : {sharded: false}
  let vschemaSource = source
  let vschemaPath: Array<string | number> = ['vschema']
  if (typeof layout.vschema === 'string') {
    const file = resolve(dirname(source.file), layout.vschema)
    let read: ReturnType<typeof SourceDoc.read>
    try {
      read = SourceDoc.read(file, 'the vschema file')
    } catch (err) {
      if (!(err instanceof UnreadableFileError)) throw err
      throw new LayoutError([
        source.problem(
          ['vschema'],
          `cannot read the vschema file ${file}: ${err.why}; give the path of a JSON or YAML file, relative to the layout`,
        ),
      ])
    }
    if (!read.source || read.problems.length) throw new LayoutError(read.problems)
    vschemaSource = read.source
    vschemaPath = []
    const value = vschemaSource.value
    const vp = schemaProblems(vschemaValidator, value).map((p) => vschemaSource.problem(p.path, p.message, p.atKey))
    if (vp.length) throw new LayoutError(vp)
    vschema = value as VSchema
  }

  const defaults = {...TABLET_DEFAULTS, ...layout.defaults}
  const {ranges, problems: nameProblems} = shardRanges(Object.keys(layout.shards))
  const semantic: Array<[SourceDoc, SemanticProblem]> = [
    ...[...nameProblems, ...shardProblems(layout.shards, ranges, defaults.host)].map(
      (p): [SourceDoc, SemanticProblem] => [source, p],
    ),
    ...vschemaSemanticProblems(vschema, Object.keys(layout.shards), vschemaPath).map(
      (p): [SourceDoc, SemanticProblem] => [vschemaSource, p],
    ),
  ]
  if (semantic.length) throw new LayoutError(semantic.map(([src, p]) => src.problem(p.path, p.message, p.atKey)))

  const folder = dirname(source.file)
  const shards: ShardSpec[] = Object.entries(layout.shards).map(([name, s]) => ({
    name,
    keyRange: keyRangeToJSON(ranges.get(name)!),
    tablets: s.tablets.map((t) => {
      const tablet: TabletSpec = {
        alias: t.alias,
        type: (t.type === 'master' ? 'primary' : t.type) as TabletType,
        host: (t.host as string | undefined) ?? defaults.host,
        port: t.port,
        user: (t.user as string | undefined) ?? defaults.user,
        passwordEnv: (t.passwordEnv as string | undefined) ?? defaults.passwordEnv,
        adminUser: (t.adminUser as string | undefined) ?? defaults.adminUser,
        adminPasswordEnv: (t.adminPasswordEnv as string | undefined) ?? defaults.adminPasswordEnv,
      }
      const tls = tlsOf(layout.defaults?.tls, t.tls as TlsFiles | undefined, folder)
      if (tls) tablet.tls = tls
      return tablet
    }),
  }))
  // Normalised lower-case hex compares as text exactly as the bytes do.
  shards.sort((a, b) => (a.keyRange.start < b.keyRange.start ? -1 : a.keyRange.start > b.keyRange.start ? 1 : 0))

  return {
    file: source.file,
    keyspace: layout.keyspace,
    database: layout.database ?? `vt_${layout.keyspace}`,
    vschema,
    approvals: {default: layout.approvals?.default ?? 'canary', phases: {...layout.approvals?.phases}},
    settings: {...DEFAULT_SETTINGS, ...layout.settings},
    shards,
  }
}

/**
 * A tablet's TLS settings: the layout's defaults.tls, field by field overridden by the tablet's own. Paths are made
 * absolute (relative ones are relative to the layout's folder) and only paths are kept: the files are read when a
 * connection is made, so certificates and keys never enter the topology or plans.
 */
function tlsOf(defaults: TlsFiles | undefined, own: TlsFiles | undefined, base: string): TlsFiles | undefined {
  if (!defaults && !own) return undefined
  const merged: TlsFiles = {...defaults, ...own}
  const tls: TlsFiles = {}
  for (const k of ['ca', 'cert', 'key'] as const) if (merged[k]) tls[k] = resolve(base, merged[k])
  if (merged.verifyServerCert !== undefined) tls.verifyServerCert = merged.verifyServerCert
  return tls
}
