// TEST ONLY runtime for the apply engine, installed in the built CLI by test/helpers/shardform-test-bin.mjs.
// Plain JavaScript so that entry point can import it without a TypeScript loader.
//
// Every executor does real but simple work:
// - records each start at test-starts/<workflow>/<task>/<attempt> (a plain put: shows re-runs and `resuming`),
// - sleeps SHARDFORM_TEST_SLEEP_MS (default 0) in SHARDFORM_TEST_STEPS steps (default 4), saving a checkpoint and
//   reporting progress after each, so a resumed task continues where it stopped,
// - fails on demand: when SHARDFORM_TEST_FAIL (comma-separated task ids) or the topology record test-control/fail
//   ({tasks: [...]}) names the task,
// - returns `ops` that create test-runs/<workflow>/<task>/<attempt> (version null): committed by the engine in one
//   transaction with the task's `done`, so exactly one such record per task proves exactly-once.
// Task ids contain "/", so they are written with ":" in paths (clone/0 → clone:0).
// SHARDFORM_TEST_CHECK_PROBLEMS (";"-separated) makes runtime.check report those problems.

const env = process.env
const SLEEP_MS = Number(env.SHARDFORM_TEST_SLEEP_MS ?? 0)
const STEPS = Math.max(1, Number(env.SHARDFORM_TEST_STEPS ?? 4))

export const key = (taskId) => taskId.replaceAll('/', ':')

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason ?? new Error('aborted'))
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(signal.reason ?? new Error('aborted'))
    }
    signal.addEventListener('abort', onAbort, {once: true})
  })
}

async function shouldFail(ctx) {
  const fromEnv = (env.SHARDFORM_TEST_FAIL ?? '').split(',').filter(Boolean)
  if (fromEnv.includes(ctx.task.id)) return 'failing on demand (SHARDFORM_TEST_FAIL)'
  const rec = await ctx.store.get('test-control/fail')
  if (rec?.value?.tasks?.includes(ctx.task.id))
    return `failing on demand (test-control/fail): ${rec.value.reason ?? 'injected failure'}`
  return undefined
}

async function executor(ctx) {
  const id = key(ctx.task.id)
  const cp = ctx.checkpoint() ?? {step: 0}
  await ctx.store.create(`test-starts/${ctx.workflowId}/${id}/${ctx.attempt}`, {
    task: ctx.task.id,
    attempt: ctx.attempt,
    resuming: ctx.resuming,
    checkpoint: cp,
    pid: process.pid,
  })
  const why = await shouldFail(ctx)
  if (why) throw new Error(why)
  const per = SLEEP_MS / STEPS
  for (let step = cp.step; step < STEPS; step++) {
    if (per > 0) await sleep(per, ctx.signal)
    await ctx.saveCheckpoint({step: step + 1})
    ctx.progress({
      done: step + 1,
      total: STEPS,
      unit: 'steps',
      rate: per > 0 ? 1000 / per : undefined,
      etaSeconds: ((STEPS - step - 1) * per) / 1000,
    })
  }
  ctx.log(`test executor finished ${ctx.task.id} (attempt ${ctx.attempt}${ctx.resuming ? ', resumed' : ''})`)
  return {
    ops: [
      {
        op: 'put',
        path: `test-runs/${ctx.workflowId}/${id}/${ctx.attempt}`,
        value: {task: ctx.task.id, attempt: ctx.attempt, resuming: ctx.resuming, pid: process.pid},
        version: null,
      },
    ],
    output: {ranBy: process.pid, attempt: ctx.attempt},
  }
}

const PHASES = [
  'apply_vschema',
  'update_tablets',
  'create_shards',
  'copy_schema',
  'clone',
  'wait_for_filtered_replication',
  'diff',
  'migrate_rdonly',
  'migrate_replica',
  'migrate_primary',
  'retire_sources',
]

export default {
  executors: Object.fromEntries(PHASES.map((p) => [p, executor])),
  check() {
    return (env.SHARDFORM_TEST_CHECK_PROBLEMS ?? '').split(';').filter(Boolean)
  },
}
