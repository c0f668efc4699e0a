// A stream item whose stream does not start on the server that claimed it (file-backed topology, a manager of our
// own): with another live server there, it is handed back and not claimed here again for a while, so the other server
// runs it (this host may not reach a tablet the others reach); alone, the server keeps it and tries again.
import {afterEach, expect, it} from 'vitest'
import {putItem} from '../../src/phases/streams/items.js'
import type {Stream} from '../../src/phases/streams/stream.js'
import {StreamItems, type ItemManager} from '../../src/server/stream-items.js'
import {workflowsPrefix} from '../../src/topo/paths.js'
import {fixture, makePlan, type Fixture} from '../helpers/engine.js'

let fx: Fixture | undefined
afterEach(async () => {
  await fx?.close()
  fx = undefined
})

/** A waiting workflow of one group 0 → -80, 80- with the stream 0 → -80 handed out. */
async function handedOut(): Promise<Fixture> {
  const plan = makePlan([{name: 'diff', tasks: 1}])
  plan.groups = [{range: '0', sources: ['0'], destinations: ['-80', '80-']}]
  const f = await fixture(plan)
  await f.writer.mutate((wf) => {
    wf.state = 'waiting'
  })
  await putItem(f.store, {
    workflow: f.wf.id,
    keyspace: 'ks',
    stream: 'ks/0->-80',
    group: 0,
    source: '0',
    destination: '-80',
    reverse: false,
    desired: 'running',
  })
  return f
}

function server(f: Fixture, id: string, starts: boolean, lines: string[]): StreamItems {
  const stream = {onFenced: () => undefined} as unknown as Stream
  const manager = (): ItemManager => ({
    ensure: async () => {
      if (!starts) throw new Error('cannot reach tablet test-200')
      return stream
    },
    stopAll: async () => undefined,
  })
  return new StreamItems({
    store: f.store,
    server: id,
    ttlSeconds: 5,
    say: (type, message) => lines.push(`${type}: ${message}`),
    wake: () => undefined,
    manager,
  })
}

const scan = async (f: Fixture, s: StreamItems, live: string[]) =>
  s.scan(await f.store.list(workflowsPrefix()), live, new AbortController().signal)

it('a stream that does not start here is handed back and run by the other live server', async () => {
  fx = await handedOut()
  const aLines: string[] = []
  const a = server(fx, 'a', false, aLines)
  const b = server(fx, 'b', true, [])
  expect(await scan(fx, a, ['a', 'b'])).toBe(true)
  expect(a.size).toBe(0)
  expect(aLines.join('\n')).toMatch(/did not start: cannot reach tablet test-200/)
  expect(aLines.join('\n')).toMatch(/handed back stream 0 → -80: it did not start here/)
  // Not claimed here again for a while; the other server takes it.
  expect(await scan(fx, a, ['a', 'b'])).toBe(false)
  expect(a.size).toBe(0)
  expect(await scan(fx, b, ['a', 'b'])).toBe(true)
  expect(b.size).toBe(1)
  await b.stopAll('test over')
})

it('alone, the server keeps the item and tries again', async () => {
  fx = await handedOut()
  const lines: string[] = []
  const a = server(fx, 'a', false, lines)
  expect(await scan(fx, a, ['a'])).toBe(true)
  expect(a.size).toBe(1)
  expect(lines.join('\n')).toMatch(/did not start: cannot reach tablet test-200/)
  expect(lines.join('\n')).not.toMatch(/handed back/)
  await a.stopAll('test over')
})
