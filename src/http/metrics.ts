// GET /metrics: Prometheus text (prom-client, a registry of this app's own). Every value is read from the topology
// records at scrape time, so every server reports the same truth whichever of them runs the work.
import type {FastifyInstance} from 'fastify'
import {Gauge, Registry} from 'prom-client'
import {collectStatus, type WorkflowStatus} from '../engine/status.js'
import {liveServers, type ServerInfo} from '../server/registry.js'
import type {HttpOptions} from './app.js'

const TASK_STATES = ['pending', 'waiting_approval', 'running', 'done', 'failed'] as const

export interface Metrics {
  registry: Registry
  /** Read the topology and set every gauge (called per scrape). */
  update(): Promise<void>
}

export function createMetrics(o: Pick<HttpOptions, 'store'>): Metrics {
  const registry = new Registry()
  const g = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({name, help, labelNames, registers: [registry]})
  const stream = ['keyspace', 'workflow', 'source', 'destination'] as const
  const task = ['keyspace', 'workflow', 'phase', 'task'] as const
  const lag = g(
    'shardform_stream_lag_seconds',
    'Replication lag of a filtered-replication stream (from heartbeats).',
    stream,
  )
  const rowChanges = g(
    'shardform_stream_row_changes_applied',
    'Row changes a stream applied to its destination.',
    stream,
  )
  const txns = g('shardform_stream_transactions_applied', 'Transactions a stream applied to its destination.', stream)
  const copied = g('shardform_task_rows_copied', 'Rows a clone task copied so far.', task)
  const compared = g('shardform_task_rows_compared', 'Rows a diff task compared so far.', task)
  const state = g('shardform_task_state', 'State of each task: 1 for the state it is in, 0 for the others.', [
    ...task,
    'state',
  ])
  const gate = g('shardform_gate_waiting_seconds', 'How long the open gate of a workflow has waited for an approval.', [
    'keyspace',
    'workflow',
    'phase',
    'stage',
  ])
  const claims = g('shardform_server_claims', 'Workflows a live server holds (its keyspace locks).', ['server'])
  const workflows = g('shardform_workflow_state', 'State of each workflow shown by status: 1 for its state.', [
    'keyspace',
    'workflow',
    'state',
  ])
  const all = [lag, rowChanges, txns, copied, compared, state, gate, claims, workflows]

  const update = async () => {
    const [status, servers] = await Promise.all([collectStatus(o.store), liveServers(o.store)])
    for (const m of all) m.reset()
    for (const w of status) setWorkflow(w)
    setServers(servers)
  }
  const setWorkflow = (w: WorkflowStatus) => {
    workflows.set({keyspace: w.keyspace, workflow: w.id, state: w.state}, 1)
    for (const ph of w.phases) {
      for (const t of ph.tasks) {
        const l = {keyspace: w.keyspace, workflow: w.id, phase: ph.name, task: t.id}
        for (const s of TASK_STATES) state.set({...l, state: s}, t.state === s ? 1 : 0)
        const done = t.progress?.done
        if (done === undefined) continue
        if (ph.name === 'clone') copied.set(l, done)
        if (ph.name === 'diff') compared.set(l, done)
      }
    }
    if (w.waiting) {
      const since = w.waiting.since ? Date.parse(w.waiting.since) : NaN
      const secs = Number.isFinite(since) ? Math.max(0, (Date.now() - since) / 1000) : 0
      gate.set({keyspace: w.keyspace, workflow: w.id, phase: w.waiting.phase, stage: w.waiting.stage}, secs)
    }
    for (const s of w.streams?.streams ?? []) {
      const l = {keyspace: w.keyspace, workflow: w.id, source: s.source, destination: s.destination}
      const secs = s.lagMs !== undefined ? s.lagMs / 1000 : s.lagSeconds
      if (secs !== undefined) lag.set(l, secs)
      rowChanges.set(l, s.rowChanges)
      txns.set(l, s.transactions)
    }
  }
  const setServers = (servers: ServerInfo[]) => {
    for (const s of servers) claims.set({server: s.id}, s.workflows.length)
  }
  return {registry, update}
}

export function registerMetrics(app: FastifyInstance, o: Pick<HttpOptions, 'store'>): void {
  const m = createMetrics(o)
  let scrape: Promise<string> | undefined
  app.get('/metrics', async (_req, reply) => {
    // Scrapes that arrive together share one read of the topology.
    scrape ??= m
      .update()
      .then(() => m.registry.metrics())
      .finally(() => (scrape = undefined))
    const text = await scrape
    return reply.type(m.registry.contentType).send(text)
  })
}
