// The local cluster (public library API): etcd and one mariadbd per tablet on 127.0.0.1.
export {
  REPL_PASSWORD_ENV,
  localUp,
  startCluster,
  type Cluster,
  type ClusterTimings,
  type LocalUpOptions,
  type LocalUpResult,
  type StartClusterOptions,
  type TabletProcess,
} from './cluster.js'
export {tabletsFromLayouts, type ClusterTablet} from './tablets.js'
export {APP_PRIVILEGES, DEFAULT_ADMIN_USER, DEFAULT_APP_USER, REPL_USER} from './provision.js'
export {DEFAULT_LOCAL_DIR} from './state.js'
export {stopCluster, type EtcdProcess, type ProcessAction, type StopOptions, type StopReport} from './processes.js'
export {replicationHealth, type ReplicationHealth} from './replication.js'
export {clusterStatus, type ClusterStatus, type TabletStatus} from './status.js'
export {findMariaDB, renderMyCnf, INSTALL_HINT} from './mariadb.js'
export {localEtcdPort} from './etcd.js'
export type {LocalTls} from './tls.js'
