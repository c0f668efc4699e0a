// The dashboard's static side without a browser: what the route serves (and refuses), with which headers, and the
// key-space drawing's pure parts (positions on the 00–ff bar, old and new shards on rows of their own).
import Fastify, {type FastifyInstance} from 'fastify'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {registerDashboard} from '../../src/http/dashboard.js'
// @ts-expect-error: a plain browser module without types (web/ ships as it is).
import {frac, rows} from '../../web/keyspaces.js'

let app: FastifyInstance
beforeAll(async () => {
  app = Fastify()
  await registerDashboard(app, {apiPrefix: '/api/v1', tokenRequired: false, version: 'test'})
  await app.ready()
})
afterAll(() => app.close())

describe('dashboard route', () => {
  it('serves the page and its modules with a policy that allows only its own scripts', async () => {
    const page = await app.inject('/')
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.body).toContain('<script type="module" src="/app.js">')
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'(;|$)/)
    expect(page.headers['x-content-type-options']).toBe('nosniff')
    for (const f of ['app.js', 'api.js', 'dom.js', 'keyspaces.js', 'workflow.js', 'plan.js', 'chart.js']) {
      const r = await app.inject(`/${f}`)
      expect(r.statusCode, f).toBe(200)
      expect(r.headers['content-type'], f).toMatch(/javascript/)
    }
    expect((await app.inject('/style.css')).headers['content-type']).toMatch(/^text\/css/)
  })

  it("serves uPlot's ES module and stylesheet from its package, nothing else of it and nothing outside web/", async () => {
    expect((await app.inject('/vendor/uplot/uPlot.esm.js')).statusCode).toBe(200)
    expect((await app.inject('/vendor/uplot/uPlot.min.css')).statusCode).toBe(200)
    expect((await app.inject('/vendor/uplot/uPlot.cjs.js')).statusCode).toBe(404)
    expect((await app.inject('/vendor/uplot/../../package.json')).statusCode).toBe(404)
    expect((await app.inject('/../package.json')).statusCode).toBe(404)
    expect((await app.inject('/%2e%2e/package.json')).statusCode).toBe(404)
  })
})

describe('key space bar', () => {
  it('places key-range bounds on 0..1', () => {
    expect(frac('', false)).toBe(0)
    expect(frac('', true)).toBe(1)
    expect(frac('80', false)).toBe(0.5)
    expect(frac('4000', false)).toBe(0.25)
    expect(frac('c0', true)).toBe(0.75)
  })

  it('puts overlapping shards on rows of their own, serving ones first, each row in key order', () => {
    const shard = (name: string, start: string, end: string, serving: string[] = []) => ({name, start, end, serving})
    const layout = rows([
      shard('80-', '80', ''),
      shard('-80', '', '80'),
      shard('0', '', '', ['primary', 'replica']),
    ]) as Array<Array<{name: string}>>
    expect(layout.map((r) => r.map((s) => s.name))).toEqual([['0'], ['-80', '80-']])
    // After the cutover the new shards serve: they move to the top row.
    const after = rows([
      shard('0', '', ''),
      shard('80-', '80', '', ['primary', 'replica', 'rdonly']),
      shard('-80', '', '80', ['primary', 'replica', 'rdonly']),
    ]) as Array<Array<{name: string}>>
    expect(after.map((r) => r.map((s) => s.name))).toEqual([['-80', '80-'], ['0']])
  })
})
