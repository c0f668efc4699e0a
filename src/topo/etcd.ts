// The etcd backend's public names. etcd3 is loaded only inside EtcdTopoStore.open(), so importing this costs nothing.
export {EtcdTopoStore} from './etcd-store.js'
export {type EtcdTopoOptions} from './etcd-client.js'
export {ETCD_TLS_ENV, etcdCredentials, parseEtcdUrl, type EtcdCredentials, type EtcdLocation} from './etcd-url.js'
