// Starting a server: open the topology, waiting (with a line every few seconds, no stack trace) while it is unreachable.
import {setTimeout as sleep} from 'node:timers/promises'
import {errorMessage} from '../errors.js'
import {openTopo} from '../topo/open.js'
import {isTopoError, type TopoStore} from '../topo/store.js'

/** Open `url`; while it answers `unavailable`, say so every `everyMs` and try again. Undefined when stopped meanwhile. */
export async function openTopoWaiting(
  url: string | undefined,
  say: (message: string) => void,
  signal: AbortSignal,
  everyMs = 3000,
): Promise<TopoStore | undefined> {
  for (;;) {
    if (signal.aborted) return undefined
    try {
      return await openTopo(url)
    } catch (e) {
      if (!isTopoError(e, 'unavailable')) throw e
      say(`waiting for the topology: ${errorMessage(e)} (trying again every ${Math.round(everyMs / 1000)} s)`)
    }
    await sleep(everyMs, undefined, {signal}).catch(() => undefined)
  }
}
