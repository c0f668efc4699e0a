// Streams as work items, the pure parts: where their records live, whose claims count, when a driver hands out.
import {describe, expect, it} from 'vitest'
import {renderServers} from '../../src/cli/views/servers.js'
import {
  itemClaimPath,
  itemKey,
  itemPath,
  itemStatusPath,
  mergeItemStreams,
  parseItemPath,
} from '../../src/engine/work-items.js'
import type {TopoReader} from '../../src/topo/store.js'
import {idle} from '../../src/phases/streams/manager.js'
import {itemClaimsOf} from '../../src/server/registry.js'
import {itemClaims} from '../../src/server/stream-items.js'

const claim = (server: string, extra: Record<string, unknown> = {}) => ({
  id: 'l',
  who: 'u@elsewhere pid 1',
  operation: 'stream',
  created: '2026-01-01T00:00:00Z',
  hostname: 'some-other-host',
  pid: 1,
  server,
  stream: 'ks/-80->-40',
  ...extra,
})

describe('stream work items', () => {
  it('paths round-trip and nothing else parses as an item', () => {
    const key = itemKey('-80', '-40')
    expect(parseItemPath(itemPath('wf1', key))).toEqual({workflow: 'wf1', key: '-80->-40', kind: 'Item'})
    expect(parseItemPath(itemClaimPath('wf1', key))?.kind).toBe('Claim')
    expect(parseItemPath(itemStatusPath('wf1', key))?.kind).toBe('Status')
    expect(parseItemPath('workflows/wf1/Workflow')).toBeUndefined()
    expect(parseItemPath('workflows/wf1/Streams')).toBeUndefined()
  })

  it('only live claims count, per server', () => {
    const now = Date.parse('2026-01-01T00:00:10Z')
    const entries = [
      {path: itemClaimPath('wf1', 'a->b'), value: claim('s1')},
      {path: itemClaimPath('wf1', 'a->c'), value: claim('s1')},
      {path: itemClaimPath('wf2', 'a->b'), value: claim('s2')},
      {path: itemClaimPath('wf2', 'a->c'), value: claim('s2', {expires: now - 1})},
      {path: itemPath('wf1', 'a->d'), value: {desired: 'running'}},
      {path: 'workflows/wf1/Workflow', value: {}},
    ]
    const byServer = itemClaimsOf(entries, now)
    expect(byServer.get('s1')?.map((x) => x.workflow)).toEqual(['wf1', 'wf1'])
    expect(byServer.get('s2')).toHaveLength(1)
    expect([...itemClaims(entries, now).keys()].sort()).toEqual(['wf1/a->b', 'wf1/a->c', 'wf2/a->b'])
  })

  it('a driver hands streams out only while waiting with no task running', () => {
    const task = (state: string) => ({state}) as never
    expect(idle({state: 'waiting', tasks: {a: task('done'), b: task('waiting_approval')}})).toBe(true)
    expect(idle({state: 'waiting', tasks: {a: task('running')}})).toBe(false)
    expect(idle({state: 'running', tasks: {a: task('done')}})).toBe(false)
  })

  it('status takes each stream from the server holding its claim, the driver’s for the rest', async () => {
    const st = (id: string, server: string, position: string) => ({
      updated_at: `2026-01-01T00:00:0${position}Z`,
      server,
      streams: [
        {id, source: '0', destination: id.slice(-3), state: 'running', position, transactions: 0, rowChanges: 0},
      ],
    })
    const entries = [
      {path: itemClaimPath('wf1', '0->-40'), value: claim('s2')},
      {path: itemStatusPath('wf1', '0->-40'), value: st('ks/0->-40', 's2', '5')},
      // Published by a server that handed the stream back: its claim is gone, the record is stale.
      {path: itemStatusPath('wf1', '0->c0-'), value: st('ks/0->c0-', 's3', '9')},
    ]
    const store = {list: async () => entries} as unknown as TopoReader
    const driver = {
      updated_at: '2026-01-01T00:00:01Z',
      streams: [{...st('ks/0->80-', 's1', '1').streams[0]!, server: 's1'}],
    }
    const merged = await mergeItemStreams(store, 'wf1', driver)
    expect(merged?.streams.map((s) => [s.id, s.server])).toEqual([
      ['ks/0->-40', 's2'],
      ['ks/0->80-', 's1'],
    ])
    expect(merged?.updated_at).toBe('2026-01-01T00:00:05Z')
  })

  it('server list shows the streams and tasks each server runs', () => {
    const text = renderServers(
      [
        {
          id: 's2',
          host: 'h',
          pid: 1,
          version: '0.1.0',
          startedAt: '2026-01-01T00:00:00Z',
          workflows: [],
          workItems: ['stream', 'task'],
          streams: [{workflow: 'wf1', stream: 'ks/0->-40', since: 't'}],
          tasks: [{workflow: 'wf1', task: 'diff/-40', since: 't'}],
        },
      ],
      'etcd://x',
    )
    expect(text).toMatch(/s2 .* 1 stream\(s\): ks\/0->-40/)
    expect(text).toMatch(/1 task\(s\): diff\/-40/)
  })
})
