// The topology: records, where they live, the store contract and its two backends.
export * from './store.js'
export * from './records.js'
export * from './paths.js'
export {
  DEFAULT_TOPO_URL,
  exportSnapshot,
  openTopo,
  parseTopoUrl,
  writeSnapshot,
  type OpenTopoOptions,
  type TopoLocation,
  type TopoSnapshot,
} from './open.js'
export {FileTopoStore, SnapshotTopoStore, openFileTopo, type FileTopoOptions} from './file.js'
// etcd.ts loads etcd3 only inside EtcdTopoStore.open(), so exporting it here costs nothing at startup.
export {EtcdTopoStore, parseEtcdUrl, type EtcdLocation, type EtcdTopoOptions} from './etcd.js'
