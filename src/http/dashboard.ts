// The dashboard: the page in web/ (plain browser ES modules, shipped as they are: no build step) and uPlot's dist
// files, served with @fastify/static. web/ is found from this file: dist/http/dashboard.js (or src/http/dashboard.ts
// under tsx) → ../../web, the package root's web/ folder ("files" in package.json ships it).
import {createRequire} from 'node:module'
import {dirname} from 'node:path'
import {fileURLToPath} from 'node:url'
import fastifyStatic from '@fastify/static'
import type {FastifyInstance, FastifyReply} from 'fastify'

export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url))
/** uPlot's dist/ (its package "main" lives there). */
export const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot'))
const UPLOT_FILES = new Set(['/uPlot.esm.js', '/uPlot.min.css'])

// Scripts only from this server: even if a name ever reached the page as markup, its inline handlers would not run.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ')

function secure(reply: FastifyReply): void {
  reply.header('Content-Security-Policy', CSP)
  reply.header('X-Content-Type-Options', 'nosniff')
  reply.header('Referrer-Policy', 'no-referrer')
  reply.header('Cache-Control', 'no-cache')
}

export interface DashboardOptions {
  /** Where the JSON API lives, e.g. /api/v1 (the page asks /api/v1/). */
  apiPrefix: string
  /** The server has a token file: the page asks for a token on the first 401 and sends it as a bearer header. */
  tokenRequired: boolean
  version: string
}

/** Serve the dashboard at / (index.html, app.js, …) and uPlot at /vendor/uplot/. */
export async function registerDashboard(app: FastifyInstance, _o?: DashboardOptions): Promise<void> {
  await app.register(fastifyStatic, {
    root: WEB_DIR,
    prefix: '/',
    index: ['index.html'],
    wildcard: false,
    setHeaders: secure,
  })
  await app.register(fastifyStatic, {
    root: UPLOT_DIR,
    prefix: '/vendor/uplot/',
    decorateReply: false,
    wildcard: false,
    allowedPath: (path) => UPLOT_FILES.has(path),
    setHeaders: secure,
  })
}
