// Running a workflow in-process with the real data plane, as the integration tests of reshards do.
import type {ApplyResult} from '../../src/engine/apply.js'
import {dataPlaneRuntime} from '../../src/phases/index.js'
import type {TopoStore} from '../../src/topo/store.js'

/** Settings for apply()/retry(): the data plane, the overall question answered yes, gates as `more` says. */
export const dataPlaneSettings = (store: TopoStore, more: {autoApprove?: boolean; noWait?: boolean} = {}) => ({
  store,
  runtime: dataPlaneRuntime(),
  ui: {confirm: async () => true},
  ...more,
})

/** The failed tasks of a result with their errors (empty unless it failed): a readable expectation. */
export const failures = (r: ApplyResult) => (r.state === 'failed' ? r.failed.map((t) => `${t.id}: ${t.error}`) : [])
