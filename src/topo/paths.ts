// Where records live below the topology root. Both backends use these relative paths.

export const keyspacePath = (ks: string) => `keyspaces/${ks}/Keyspace`
export const keyspacePrefix = (ks: string) => `keyspaces/${ks}/`
export const shardPath = (ks: string, shard: string) => `keyspaces/${ks}/shards/${shard}/Shard`
export const shardsPrefix = (ks: string) => `keyspaces/${ks}/shards/`
export const srvKeyspacePath = (ks: string) => `keyspaces/${ks}/SrvKeyspace`
export const lockPath = (ks: string) => `keyspaces/${ks}/lock`
export const tabletPath = (alias: string) => `tablets/${alias}/Tablet`
export const tabletsPrefix = () => 'tablets/'
export const workflowPath = (id: string) => `workflows/${id}/Workflow`
export const workflowsPrefix = () => 'workflows/'
/** A `shardform server`'s registration, held under a lease while it runs. */
export const serverPath = (id: string) => `servers/${id}/Server`
export const serversPrefix = () => 'servers/'
export const keyspacesPrefix = () => 'keyspaces/'
/**
 * An apply's request that the server holding a keyspace hand it back (held under the apply's lease while it waits for
 * the keyspace lock). Outside keyspaces/ so that it never changes a keyspace's fingerprint.
 */
export const handBackPath = (ks: string) => `handback/${ks}/Wanted`
export const handBackPrefix = () => 'handback/'
/** Filtered-replication status of a workflow's streams, published by the apply running it. */
export const workflowStreamsPath = (id: string) => `workflows/${id}/Streams`

/** The shard name in a `keyspaces/<ks>/shards/<shard>/Shard` path. */
export function shardFromPath(path: string): string | undefined {
  const m = /^keyspaces\/[^/]+\/shards\/([^/]+)\/Shard$/.exec(path)
  return m?.[1]
}
/** Held (under a lease) by the process whose diffs keep an rdonly tablet's replication stopped. */
export const rdonlyFreezePath = (alias: string) => `freezes/${alias}`
