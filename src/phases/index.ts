// The data plane's runtime for the apply engine: one executor per phase, and the stream manager as its service.
import type {Runtime, WorkflowRecord} from '../engine/types.js'
import type {KeyspaceState} from '../topo/state.js'
import {clone} from './clone.js'
import {copySchema} from './copy-schema.js'
import {diff} from './diff.js'
import {migratePrimary} from './migrate-primary.js'
import {retireSources} from './retire.js'
import {liveGroups, StreamManager} from './streams/manager.js'
import {applyVSchema, createShards, migrateReadTraffic, updateTablets} from './topology.js'
import {waitForFilteredReplication} from './wait.js'

export function dataPlaneRuntime(): Runtime {
  let manager: StreamManager | undefined
  return {
    executors: {
      apply_vschema: applyVSchema,
      update_tablets: updateTablets,
      create_shards: createShards,
      copy_schema: copySchema,
      clone,
      wait_for_filtered_replication: waitForFilteredReplication,
      diff,
      migrate_rdonly: migrateReadTraffic('rdonly'),
      migrate_replica: migrateReadTraffic('replica'),
      migrate_primary: migratePrimary,
      retire_sources: retireSources,
    },
    async start(wf, store) {
      manager = new StreamManager(store, wf.id, wf.keyspace, wf.plan)
      // Streams of groups already cloned resume from their stored positions. A failure here is not fatal: the task
      // that needs the stream reports it.
      for (const g of liveGroups(wf)) await manager.ensureGroup(g).catch(() => undefined)
      return manager
    },
    async stop() {
      await manager?.stopAll()
      manager = undefined
    },
    check: checkTopology,
  }
}

/** Does the topology still serve what the workflow's progress says it should? */
export function checkTopology(wf: WorkflowRecord, state: KeyspaceState): string[] {
  const problems: string[] = []
  const done = (id: string) => wf.tasks[id]?.state === 'done'
  wf.plan.groups.forEach((g) => {
    for (const type of ['rdonly', 'replica', 'primary'] as const) {
      const serving = state.srvKeyspace.partitions[type]
      const moved = done(`migrate_${type}/${g.range}`)
      const expect = moved ? g.destinations : g.sources
      const retired = g.sources.every((s) => done(`retire_sources/${s}`))
      if (retired && moved) continue
      const missing = expect.filter((s) => !serving.includes(s))
      if (missing.length) problems.push(`${type} traffic should be served by ${expect.join(', ')} but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not serving it`)
    }
    for (const d of g.destinations) {
      if (done(`create_shards/${d}`) && !state.shards.some((s) => s.name === d)) problems.push(`destination shard ${d} was created by this workflow but is no longer in the topology`)
    }
  })
  return problems
}
