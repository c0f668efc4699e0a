// One topology watch per keyspace shared by every client following its serving map (the router's ServingWatch: it
// re-reads the keyspace on each change and reports only real changes), closed when the last client goes.
import {ServingWatch} from '../routing/serving-watch.js'
import type {TopoStore} from '../topo/store.js'
import {servingMap, type ServingMap} from './serving.js'

interface Shared {
  watch: ServingWatch
  ready: Promise<boolean>
  users: number
}

export class ServingHub {
  private readonly watches = new Map<string, Shared>()

  constructor(private readonly store: TopoStore) {}

  /**
   * Follow `keyspace`: `onMap` gets the current map at once, then one per change. Undefined when the keyspace does not
   * exist (nothing is left running). Returns the function that stops following.
   */
  async follow(
    keyspace: string,
    onMap: (m: ServingMap, generation: number) => void,
  ): Promise<(() => void) | undefined> {
    let s = this.watches.get(keyspace)
    if (!s) {
      const watch = new ServingWatch(this.store, keyspace)
      s = {watch, ready: watch.start(), users: 0}
      this.watches.set(keyspace, s)
    }
    s.users++
    const shared = s
    const ok = await shared.ready.catch(() => false)
    const v = ok ? shared.watch.current() : undefined
    const off = v ? shared.watch.onChange((snap) => onMap(servingMap(snap), snap.generation)) : undefined
    let stopped = false
    const stop = () => {
      if (stopped) return
      stopped = true
      off?.()
      if (--shared.users === 0 && this.watches.get(keyspace) === shared) {
        this.watches.delete(keyspace)
        void shared.watch.close()
      }
    }
    if (!v) {
      stop()
      return undefined
    }
    const snap = shared.watch.snapshot(v)
    onMap(servingMap(snap), snap.generation)
    return stop
  }

  async close(): Promise<void> {
    const all = [...this.watches.values()]
    this.watches.clear()
    await Promise.allSettled(all.map((s) => s.watch.close()))
  }
}
