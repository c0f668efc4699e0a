// shardform as a library: key ranges, vindexes, layouts, the topology store, the planner.
export * from './keyspace/keyrange.js'
export {
  getVindex,
  keyspaceId,
  isVindexType,
  unhash,
  xxh64,
  VINDEX_TYPES,
  VindexError,
  type VindexFn,
  type VindexValue,
} from './keyspace/vindexes/index.js'
export {
  tableRouting,
  vschemaProblems,
  VSchemaError,
  type VSchema,
  type TableRouting,
  type PrimaryVindex,
} from './keyspace/vschema.js'
export {
  loadLayout,
  parseLayout,
  LayoutError,
  formatProblems,
  type Layout,
  type ShardSpec,
  type TabletSpec,
  type Problem,
} from './layout/index.js'
export * from './plan/index.js'
// The plan's text view lives with the CLI's views; the library keeps exporting it.
export {renderPlanText, summaryLine} from './cli/views/plan-text.js'
export {renderPlanMarkdown} from './cli/views/plan-markdown.js'
export {openTopo, exportSnapshot, type TopoSnapshot} from './topo/open.js'
export {TopoError, type TopoStore, type Entry, type WatchEvent, type LockHandle} from './topo/store.js'
export type * from './topo/records.js'
export {readKeyspaceState, fingerprint, type KeyspaceState} from './plan/keyspace-state.js'
export {initKeyspace, bootstrapRecords} from './layout/init.js'
export {ShardformError} from './errors.js'
export * from './routing/index.js'
export * from './local/index.js'
export * from './load/index.js'
export * from './engine/index.js'
export {dataPlaneRuntime} from './phases/index.js'
