// Streams as work items, the pure parts: where their records live, whose claims count, when a driver hands out.
import {describe, expect, it} from 'vitest'
import {itemClaimPath, itemKey, itemPath, itemStatusPath, parseItemPath} from '../../src/engine/work-items.js'
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
})
