// A keyspace of n shards recorded in a topology, and the workflow of its split into 2n created (waiting at its first
// gate: nothing runs before an approval, so no MariaDB is needed). For what a large workflow costs to show and to hold.
import {WorkflowWriter} from '../../src/engine/writer.js'
import {newWorkflowRecord} from '../../src/engine/workflow.js'
import {generateShards} from '../../src/keyspace/keyrange.js'
import {initKeyspace} from '../../src/layout/init.js'
import {plan} from '../../src/plan/planner.js'
import type {TopoStore} from '../../src/topo/store.js'
import {makeLayout} from './layouts.js'
import {stateOf} from './state.js'

/** The new workflow's id. */
export async function createLargeSplit(store: TopoStore, shards: number): Promise<string> {
  const from = makeLayout(generateShards(shards))
  // Destination aliases after the sources' (each shard takes ten from 1000).
  const to = makeLayout(generateShards(shards * 2), {base: 1000 + shards * 10})
  await initKeyspace(store, from)
  const wf = newWorkflowRecord(plan(stateOf(from), to), {kind: 'layout', file: 'split.yaml'}, 'tester@host')
  await WorkflowWriter.create(store, wf)
  return wf.id
}
