// Composition root: the CLI wires the engine to the data plane (src/phases) here; the engine never imports phases.
import type {Runtime} from '../engine/types.js'

let installed: Runtime | undefined

/**
 * Run workflows with `runtime` instead of the data plane, in this process only. Reachable only by importing this module
 * (tests' own entry point does, before running the CLI): nothing a user sets can load a foreign module.
 */
export function installRuntime(runtime: Runtime | undefined): void {
  installed = runtime
}

/** True when workflows run with the data plane (no other runtime installed): only then are there tablets to check. */
export function usesDataPlane(): boolean {
  return installed === undefined
}

/** The runtime workflows run with: the installed one, else the data plane (loaded lazily: mysql2 and zongji stay out
 * of start-up). */
export async function workflowRuntime(opts: {owner?: string; server?: string} = {}): Promise<Runtime> {
  if (installed) return installed
  const {dataPlaneRuntime} = await import('../phases/index.js')
  return dataPlaneRuntime(opts)
}
