// A KeyspaceState as `topo init <layout>` would leave it, for planner tests without a store.
import {loadLayout} from '../../src/layout/index.js'
import type {Layout} from '../../src/layout/types.js'
import {bootstrapRecords} from '../../src/layout/init.js'
import type {KeyspaceState} from '../../src/plan/keyspace-state.js'

export const GUESTBOOK = new URL('../../plans/guestbook/', import.meta.url).pathname

export function guestbook(name: string): Layout {
  return loadLayout(`${GUESTBOOK}${name}`)
}

export function stateOf(layout: Layout): KeyspaceState {
  const r = bootstrapRecords(layout)
  return {
    keyspace: r.keyspace,
    shards: r.shards,
    srvKeyspace: r.srvKeyspace,
    tablets: r.tablets,
    allTablets: r.tablets,
    activeWorkflows: [],
  }
}
