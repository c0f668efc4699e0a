// The workflows: list, one (the `status --json` shape), its plan, its history, its events (server-sent), and the two
// things a person does to one: approve the open gate, retry a failed task.
import type {FastifyInstance} from 'fastify'
import {approveWorkflow, recordRetry} from '../engine/commands.js'
import {readWorkflowEntry} from '../engine/record.js'
import {listStatus, STATUS_FORMAT_VERSION, workflowStatusOf, type WorkflowStatus} from '../engine/status.js'
import {isFinished, type WorkflowRecord} from '../engine/types.js'
import {describeStage} from '../engine/workflow.js'
import {planToJSON} from '../plan/render.js'
import {lockPath, workflowPath} from '../topo/paths.js'
import type {AppContext} from './app.js'
import {errorBody} from './error-body.js'
import {HttpError} from './errors.js'
import {openEventStream} from './sse.js'

type IdParams = {Params: {id: string}}

const approveBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    stage: {type: 'string', enum: ['first', 'rest', 'all']},
    phase: {type: 'string', minLength: 1, maxLength: 64},
  },
} as const
const retryBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {task: {type: 'string', minLength: 1, maxLength: 200}},
} as const

export function registerWorkflows(api: FastifyInstance, ctx: AppContext): void {
  const {store, hints} = ctx

  const record = async (id: string): Promise<WorkflowRecord> => {
    const e = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(id)
      ? readWorkflowEntry(await store.get(workflowPath(id)))
      : undefined
    if (!e?.value || typeof e.value !== 'object') throw noWorkflow(id, store.url)
    return e.value
  }
  const status = async (id: string): Promise<WorkflowStatus> => {
    await record(id)
    const st = await workflowStatusOf(store, id, hints)
    if (!st) throw noWorkflow(id, store.url)
    return st
  }

  api.get<{Querystring: {keyspace?: string}}>('/workflows', async (req) => {
    const all = await listStatus(store, req.query.keyspace || undefined, hints)
    return {
      format_version: STATUS_FORMAT_VERSION,
      topology: store.url,
      // The list leaves out the phase tree: GET /workflows/:id has it.
      workflows: all.map(({phases: _phases, ...rest}) => rest),
    }
  })

  api.get<IdParams>('/workflows/:id', async (req) => ({
    format_version: STATUS_FORMAT_VERSION,
    topology: store.url,
    workflow: await status(req.params.id),
  }))

  api.get<IdParams>('/workflows/:id/plan', async (req) => {
    const wf = await record(req.params.id)
    return {
      workflow: wf.id,
      source: wf.source,
      plan: planToJSON(wf.plan),
      text: ctx.planText?.(wf.plan) ?? null,
      layout_diff: wf.plan.vschemaDiff ?? null,
    }
  })

  api.get<IdParams>('/workflows/:id/history', async (req) => {
    const wf = await record(req.params.id)
    return {workflow: wf.id, keyspace: wf.keyspace, events: (wf.events ?? []).map((e) => ({workflow: wf.id, ...e}))}
  })

  api.get<IdParams>('/workflows/:id/events', async (req, reply) => {
    const first = await status(req.params.id)
    const out = openEventStream(req, reply, ctx.streams)
    let last = ''
    let seq = 0
    const send = (st: WorkflowStatus) => {
      const text = JSON.stringify(st)
      if (text === last) return
      last = text
      out.send('workflow', st, ++seq)
    }
    send(first)
    // Re-read on every change of the workflow's records (record, streams) and of its keyspace lock (who runs it);
    // changes that arrive while a read is on its way are folded into one more read.
    let busy = false
    let again = false
    const reread = async () => {
      if (busy) return void (again = true)
      busy = true
      try {
        do {
          again = false
          const st = await workflowStatusOf(store, first.id, hints).catch(() => undefined)
          if (st) send(st)
        } while (again)
      } finally {
        busy = false
      }
    }
    // A watch that broke for good may have missed changes: say so and end the stream (the client reconnects).
    const fail = (e: unknown) => {
      out.send('error', errorBody(e).body.error)
      out.close()
    }
    let stops: Array<() => void>
    try {
      stops = await Promise.all([
        store.watch(`workflows/${first.id}/`, () => void reread(), fail),
        store.watch(lockPath(first.keyspace), () => void reread(), fail),
      ])
    } catch (e) {
      return fail(e)
    }
    // A change between the first read and the watches starting.
    void reread()
    void out.closed.then(() => stops.forEach((s) => s()))
  })

  api.post<IdParams & {Body: {stage?: 'first' | 'rest' | 'all'; phase?: string} | null}>(
    '/workflows/:id/approve',
    {schema: {body: approveBody}},
    async (req) => {
      const wf = await record(req.params.id)
      if (isFinished(wf)) throw finished(wf, 'approve')
      const {approval, stage} = await approveWorkflow(store, wf.keyspace, {
        phase: req.body?.phase,
        stage: req.body?.stage,
        who: req.principal,
        via: 'api',
        workflowId: wf.id,
      })
      return {workflow: wf.id, approval, approved: describeStage(stage)}
    },
  )

  api.post<IdParams & {Body: {task?: string} | null}>(
    '/workflows/:id/retry',
    {schema: {body: retryBody}},
    async (req) => {
      const wf = await record(req.params.id)
      if (isFinished(wf)) throw finished(wf, 'retry')
      const task = req.body?.task
      if (task !== undefined && !wf.tasks[task])
        throw new HttpError(404, 'unknown_task', `workflow ${wf.id} has no task ${JSON.stringify(task)}.`, {
          hint: `GET /api/v1/workflows/${wf.id} lists its tasks.`,
        })
      const r = await recordRetry(store, wf.id, {taskId: task, who: req.principal, hints})
      return {
        workflow: wf.id,
        retried: r.tasks,
        state: r.wf.state,
        message: `${r.tasks.join(', ')} back to pending; a shardform server runs the workflow from there.`,
      }
    },
  )
}

function noWorkflow(id: string, url: string): HttpError {
  return new HttpError(404, 'unknown_workflow', `workflow ${id} does not exist in ${url}.`, {
    hint: 'GET /api/v1/workflows lists the workflows.',
  })
}

function finished(wf: WorkflowRecord, what: string): HttpError {
  return new HttpError(409, 'workflow_finished', `workflow ${wf.id} is ${wf.state}; there is nothing to ${what}.`)
}
