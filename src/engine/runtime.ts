// The runtime the CLI runs workflows with: the phase executors (the data plane plugs in here) and their services.
import {isAbsolute} from 'node:path'
import {pathToFileURL} from 'node:url'
import type {Runtime} from './types.js'
import {EngineError} from './workflow.js'

/**
 * TEST ONLY: an absolute path to an ES module whose default export is a Runtime. The CLI then runs workflows with those
 * executors instead of the real ones (integration tests use executors that sleep, record runs and fail on demand).
 */
export const TEST_RUNTIME_ENV = 'SHARDFORM_TEST_RUNTIME'

/** The data plane: one executor per phase (src/phases), loaded lazily (mysql2 and zongji stay out of start-up). */
export async function defaultRuntime(): Promise<Runtime> {
  const {dataPlaneRuntime} = await import('../phases/index.js')
  return dataPlaneRuntime()
}

/** The runtime named by $SHARDFORM_TEST_RUNTIME, else defaultRuntime(). */
export async function loadRuntime(env: NodeJS.ProcessEnv = process.env): Promise<Runtime> {
  const path = env[TEST_RUNTIME_ENV]
  if (!path) return defaultRuntime()
  if (!isAbsolute(path))
    throw new EngineError(
      `${TEST_RUNTIME_ENV} must be an absolute path to a module (it is "${path}"); it is for tests only.`,
    )
  let mod: {default?: unknown}
  try {
    mod = (await import(pathToFileURL(path).href)) as {default?: unknown}
  } catch (e) {
    throw new EngineError(`${TEST_RUNTIME_ENV}=${path}: cannot load the module: ${(e as Error).message}`)
  }
  const rt = mod.default as Runtime | undefined
  if (!rt || typeof rt !== 'object' || !rt.executors || typeof rt.executors !== 'object') {
    throw new EngineError(
      `${TEST_RUNTIME_ENV}=${path}: its default export must be a Runtime ({executors: {<phase>: fn}}).`,
    )
  }
  return rt
}
