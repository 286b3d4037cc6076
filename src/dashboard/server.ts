/**
 * The dashboard's HTTP server (node:http, 127.0.0.1 only, read-only): the page and its few static files, the JSON
 * API, server-sent events and Prometheus metrics.
 *
 * | route | what |
 * | --- | --- |
 * | `GET /` | the page (`ui/index.html`) |
 * | `GET /app.js`, `/style.css` | the UI (`ui/`, plain ES modules, no build) |
 * | `GET /vendor/…` | preact, preact/hooks, htm, uPlot and its CSS, straight from node_modules |
 * | `GET /api/state` | the snapshot as JSON (`DashboardSnapshot`) |
 * | `GET /api/events` | server-sent events: `state` with the whole snapshot on connect and after every change (at most one every `throttleMs`) |
 * | `GET /metrics` | Prometheus text exposition format (`metrics.ts`) |
 *
 * Anything else is 404, a method other than GET or HEAD is 405, and a request whose Host header is not this
 * server's loopback address is 421 (no DNS rebinding from a web page).
 *
 * @example
 * ```ts
 * import { startDashboardServer } from './server.js'
 * const d = await startDashboardServer({ port: 0 })
 * d.push({ kind: 'listening', role: 'cache', name: 'cache-0' })
 * console.log(`dashboard ${d.url}`) // dashboard http://127.0.0.1:PORT/
 * await d.close()
 * ```
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SoukError } from '../core/errors.js'
import { renderMetrics } from './metrics.js'
import { createDashboardState, type DashboardState } from './state.js'

export class DashboardError extends SoukError {
  override name = 'DashboardError'
}

export interface DashboardServerOptions {
  /** 0 (default): any free port. */
  port?: number
  /** Only loopback: 127.0.0.1 (default) or ::1. */
  host?: '127.0.0.1' | '::1'
  state?: DashboardState
  /** The time an event is stamped with (default Date.now). */
  now?: () => number
  /** At most one pushed snapshot per this many ms (default 200). */
  throttleMs?: number
}

export interface DashboardServer {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string
  readonly port: number
  readonly state: DashboardState
  /** Takes one event (testnet or chain) and schedules a push to the browsers. */
  push(event: unknown): void
  /** Browsers connected to /api/events. */
  subscribers(): number
  close(): Promise<void>
}

/** One static file: its bytes, type and ETag. */
interface Asset { body: Buffer; type: string; etag: string; cache: string }

const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), 'ui')

/** Where each vendored library is, under node_modules (walking up from this module, as `npm ci` lays it out). */
export const VENDOR_FILES: Record<string, string> = {
  'preact.mjs': 'preact/dist/preact.mjs',
  'hooks.mjs': 'preact/hooks/dist/hooks.mjs',
  'htm.mjs': 'htm/dist/htm.mjs',
  'uPlot.iife.min.js': 'uplot/dist/uPlot.iife.min.js',
  'uPlot.min.css': 'uplot/dist/uPlot.min.css',
}

function nodeModulesFile(rel: string): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const p = join(dir, 'node_modules', rel)
    if (existsSync(p)) return p
    const up = dirname(dir)
    if (up === dir) throw new DashboardError(`Cannot find ${rel} in node_modules`, { code: 'DASHBOARD_LIBS_MISSING', hints: ['run `npm ci` in the repository'] })
    dir = up
  }
}

const typeOf = (f: string) => (f.endsWith('.js') || f.endsWith('.mjs') ? 'text/javascript; charset=utf-8' : f.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/html; charset=utf-8')
const asset = (body: Buffer, type: string, cache: string): Asset => ({ body, type, cache, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })

/** The page and every file it loads, read once. The page's import map is allowed by its hash (CSP). */
export function loadAssets(): { assets: Map<string, Asset>; csp: string } {
  const assets = new Map<string, Asset>()
  for (const f of ['app.js', 'style.css']) assets.set(`/${f}`, asset(readFileSync(join(UI_DIR, f)), typeOf(f), 'no-cache'))
  for (const [name, rel] of Object.entries(VENDOR_FILES)) assets.set(`/vendor/${name}`, asset(readFileSync(nodeModulesFile(rel)), typeOf(name), 'public, max-age=3600'))
  const html = readFileSync(join(UI_DIR, 'index.html'), 'utf8')
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1]
  if (importMap === undefined) throw new DashboardError('ui/index.html has no import map', { code: 'DASHBOARD_UI_BROKEN' })
  const hash = createHash('sha256').update(importMap).digest('base64')
  assets.set('/', asset(Buffer.from(html), typeOf('index.html'), 'no-cache'))
  const csp = `default-src 'self'; script-src 'self' 'sha256-${hash}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
  return { assets, csp }
}

export async function startDashboardServer(o: DashboardServerOptions = {}): Promise<DashboardServer> {
  const host = o.host ?? '127.0.0.1'
  if (host !== '127.0.0.1' && host !== '::1') throw new DashboardError(`The dashboard binds to loopback only, not ${String(host)}`, { code: 'DASHBOARD_HOST' })
  const state = o.state ?? createDashboardState()
  const now = o.now ?? Date.now
  const throttleMs = o.throttleMs ?? 200
  const { assets, csp } = loadAssets()
  const subs = new Set<ServerResponse>()
  let port = 0
  let lastFlush = 0
  let pending: ReturnType<typeof setTimeout> | undefined
  let dirty = false

  const flush = () => {
    pending = undefined
    if (!dirty) return
    dirty = false
    lastFlush = now()
    if (subs.size === 0) return
    const msg = `event: state\ndata: ${JSON.stringify(state.snapshot())}\n\n`
    for (const r of subs) r.write(msg)
  }
  const schedule = () => {
    dirty = true
    if (pending) return
    pending = setTimeout(flush, Math.max(0, throttleMs - (now() - lastFlush)))
  }
  // A comment line every 15 s keeps proxies and idle timers from closing the stream.
  const heartbeat = setInterval(() => { for (const r of subs) r.write(': keep-alive\n\n') }, 15_000)
  heartbeat.unref()

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), 'x-content-type-options': 'nosniff', ...headers })
    res.end(res.req.method === 'HEAD' ? undefined : body)
  }
  const json = (res: ServerResponse, status: number, v: unknown) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(v), { 'cache-control': 'no-store' })

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const hostHeader = req.headers.host ?? ''
    const okHosts = host === '::1' ? [`[::1]:${port}`, `localhost:${port}`] : [`127.0.0.1:${port}`, `localhost:${port}`]
    if (!okHosts.includes(hostHeader)) return json(res, 421, { error: 'misdirected request', hint: `open http://${host === '::1' ? '[::1]' : host}:${port}/` })
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: `method ${req.method} not allowed: the dashboard is read-only` })
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/api/state') return json(res, 200, state.snapshot())
    if (path === '/metrics') return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', renderMetrics(state.snapshot(), { subscribers: subs.size }), { 'cache-control': 'no-store' })
    if (path === '/api/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-content-type-options': 'nosniff' })
      res.write(`retry: 1000\n\nevent: state\ndata: ${JSON.stringify(state.snapshot())}\n\n`)
      subs.add(res)
      req.on('close', () => subs.delete(res))
      return
    }
    const a = assets.get(path)
    if (!a) return json(res, 404, { error: `no such route: ${path}`, routes: ['/', '/api/state', '/api/events', '/metrics'] })
    if (req.headers['if-none-match'] === a.etag) { res.writeHead(304, { etag: a.etag }); res.end(); return }
    send(res, 200, a.type, a.body, { etag: a.etag, 'cache-control': a.cache, ...(path === '/' ? { 'content-security-policy': csp, 'referrer-policy': 'no-referrer' } : {}) })
  }

  const server = createServer((req, res) => {
    try {
      handle(req, res)
    } catch (e) {
      if (!res.headersSent) json(res, 500, { error: (e as Error).message.split('\n')[0] })
      else res.destroy()
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new DashboardError(`Cannot serve the dashboard on ${host}:${o.port ?? 0}: ${e.code ?? e.message}`, {
      code: 'DASHBOARD_LISTEN', hints: e.code === 'EADDRINUSE' ? ['choose another port, or 0 for any free one'] : [], cause: e,
    })))
    server.listen(o.port ?? 0, host, () => resolve())
  })
  port = (server.address() as { port: number }).port
  const url = `http://${host === '::1' ? '[::1]' : host}:${port}/`
  let closed = false
  return {
    url, port, state,
    push(event) { state.apply(event, now()); schedule() },
    subscribers: () => subs.size,
    async close() {
      if (closed) return
      closed = true
      clearInterval(heartbeat)
      if (pending) clearTimeout(pending)
      for (const r of subs) r.end()
      subs.clear()
      await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections() })
    },
  }
}
