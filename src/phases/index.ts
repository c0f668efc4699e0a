// The data plane's runtime for the apply engine: one executor per phase, and the stream manager as its service.
import type {Runtime, WorkflowRecord} from '../engine/types.js'
import type {KeyspaceState} from '../plan/keyspace-state.js'
import {cancelReadTraffic, deleteShards, stopFilteredReplication} from './cancel.js'
import {clone} from './clone.js'
import {copySchema} from './copy-schema.js'
import {diff} from './diff.js'
import {migratePrimary} from './migrate-primary.js'
import {retireSources} from './retire.js'
import {liveStreams} from './streams/live.js'
import {idle, StreamManager} from './streams/manager.js'
import {applyVSchema, createShards, migrateReadTraffic, updateTablets} from './topology.js'
import {waitForFilteredReplication} from './wait.js'
import {cloneViaServers, diffViaServers} from './tasks/via-servers.js'

export interface DataPlaneOptions {
  /** Where stream events are logged (default: standard error, one line each). */
  log?: (line: string) => void
  /** The owner token streams claim (default: this process run's): a server passes a new one per claim. */
  owner?: string
  /** The `shardform server` driving the workflow: it hands streams out as work items while the workflow waits. */
  server?: string
}

export function dataPlaneRuntime(opts: DataPlaneOptions = {}): Runtime {
  const log = opts.log ?? ((line: string) => void process.stderr.write(`${line}\n`))
  let manager: StreamManager | undefined
  return {
    executors: {
      apply_vschema: applyVSchema,
      update_tablets: updateTablets,
      create_shards: createShards,
      copy_schema: copySchema,
      // Driven by a server: clone and diff tasks run on whichever live server claims them.
      clone: opts.server ? cloneViaServers : clone,
      wait_for_filtered_replication: waitForFilteredReplication,
      diff: opts.server ? diffViaServers : diff,
      migrate_rdonly: migrateReadTraffic('rdonly'),
      migrate_replica: migrateReadTraffic('replica'),
      migrate_primary: migratePrimary,
      retire_sources: retireSources,
      cancel_migrate_replica: cancelReadTraffic('replica'),
      cancel_migrate_rdonly: cancelReadTraffic('rdonly'),
      stop_filtered_replication: stopFilteredReplication,
      delete_shards: deleteShards,
    },
    async start(wf, store) {
      manager = new StreamManager(store, wf.id, wf.keyspace, wf.plan, {
        log,
        ...(opts.owner ? {owner: opts.owner} : {}),
        ...(opts.server ? {server: opts.server, handOut: true} : {}),
      })
      // Streams of groups already cloned resume from their stored positions. A failure here is not fatal: the task
      // that needs the stream reports it. A server driving a waiting workflow offers them to the servers instead.
      const live = liveStreams(wf)
      if (opts.server && idle(wf)) {
        for (const g of live.forward) await manager.offer(g, false).catch(() => undefined)
        for (const g of live.reverse) await manager.offer(g, true).catch(() => undefined)
        return manager
      }
      for (const g of live.forward) await manager.ensureGroup(g).catch(() => undefined)
      for (const g of live.reverse) await manager.ensureReverse(g).catch(() => undefined)
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
  const task = (id: string) => wf.tasks[id]
  const done = (id: string) => task(id)?.state === 'done'
  wf.plan.groups.forEach((g) => {
    const retired = g.sources.every((s) => done(`retire_sources/${s}`))
    for (const type of ['rdonly', 'replica', 'primary'] as const) {
      let expect: string[]
      if (g.mode === 'cancel') {
        // Read traffic the reverted workflow moved comes back in cancel_migrate_<type>; primary never moved.
        const back = task(`cancel_migrate_${type}/${g.range}`)
        expect = back && back.state !== 'done' ? g.destinations : g.sources
      } else {
        const moved = done(`migrate_${type}/${g.range}`)
        if (retired && moved) continue
        expect = moved ? g.destinations : g.sources
      }
      const serving = state.srvKeyspace.partitions[type]
      const missing = expect.filter((s) => !serving.includes(s))
      if (missing.length)
        problems.push(
          `${type} traffic should be served by ${expect.join(', ')} but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not serving it`,
        )
    }
    if (g.mode) return
    for (const d of g.destinations) {
      if (done(`create_shards/${d}`) && !state.shards.some((s) => s.name === d))
        problems.push(`destination shard ${d} was created by this workflow but is no longer in the topology`)
    }
  })
  return problems
}
