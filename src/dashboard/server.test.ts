// The dashboard's HTTP server: its routes, loopback only, read-only, server-sent events, Prometheus metrics, and
// the size of the JavaScript the page loads.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { startDashboardServer, loadAssets, DashboardError } from './server.js'

const get = (url: string, headers: Record<string, string> = {}, method = 'GET') => new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
  const r = request(url, { method, headers }, (res) => {
    let body = ''
    res.setEncoding('utf8')
    res.on('data', (d: string) => { body += d })
    res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
  })
  r.on('error', reject)
  r.end()
})

test('routes: the page, its files, /api/state, /metrics; 404, 405 and a foreign Host refused', async () => {
  const d = await startDashboardServer({ port: 0 })
  try {
    assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
    d.push({ kind: 'listening', role: 'cache', name: 'cache-0', peerId: 'p0' })
    const page = await get(d.url)
    assert.equal(page.status, 200)
    assert.match(String(page.headers['content-type']), /text\/html/)
    assert.match(String(page.headers['content-security-policy']), /script-src 'self' 'sha256-/)
    assert.match(page.body, /<script type="module" src="\/app.js">/)
    for (const p of ['/app.js', '/style.css', '/vendor/preact.mjs', '/vendor/hooks.mjs', '/vendor/htm.mjs', '/vendor/uPlot.iife.min.js', '/vendor/uPlot.min.css']) {
      const r = await get(d.url.replace(/\/$/, p))
      assert.equal(r.status, 200, p)
      assert.ok(r.body.length > 100, p)
      const again = await get(d.url.replace(/\/$/, p), { 'if-none-match': String(r.headers.etag) })
      assert.equal(again.status, 304, `${p} revalidates`)
    }
    const st = await get(`${d.url}api/state`)
    assert.equal(st.status, 200)
    assert.match(String(st.headers['content-type']), /application\/json/)
    const snap = JSON.parse(st.body) as { version: number; peers: { name: string }[] }
    assert.equal(snap.version, 1)
    assert.deepEqual(snap.peers.map((p) => p.name), ['cache-0'])
    const m = await get(`${d.url}metrics`)
    assert.equal(m.status, 200)
    assert.match(String(m.headers['content-type']), /^text\/plain; version=0\.0\.4/)
    assert.match(m.body, /^# HELP souk_peers /m)
    assert.match(m.body, /^# TYPE souk_peers gauge$/m)
    assert.match(m.body, /^souk_peers\{market="unknown",role="cache",state="listening"\} 1$/m)
    assert.equal((await get(`${d.url}nope`)).status, 404)
    assert.equal((await get(`${d.url}../../etc/passwd`)).status, 404)
    assert.equal((await get(`${d.url}api/state`, {}, 'POST')).status, 405)
    assert.equal((await get(`${d.url}api/state`, { host: 'evil.example:80' })).status, 421, 'DNS rebinding: a foreign Host is refused')
    assert.equal((await get(`${d.url}api/state`, { host: `localhost:${d.port}` })).status, 200)
  } finally {
    await d.close()
  }
})

test('server-sent events: the snapshot on connect, then each change within the throttle', async () => {
  const d = await startDashboardServer({ port: 0, throttleMs: 50 })
  try {
    const frames: { peers: { name: string }[] }[] = []
    const got = new Promise<void>((resolve, reject) => {
      const r = request(`${d.url}api/events`, (res) => {
        assert.match(String(res.headers['content-type']), /text\/event-stream/)
        let buf = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          buf += chunk
          let i
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i); buf = buf.slice(i + 2)
            const data = frame.split('\n').find((l) => l.startsWith('data: '))
            if (frame.includes('event: state') && data) frames.push(JSON.parse(data.slice(6)))
            if (frames.length === 1) setImmediate(() => d.push({ kind: 'listening', role: 'client', name: 'client-7' }))
            if (frames.some((f) => f.peers.some((p) => p.name === 'client-7'))) { r.destroy(); resolve() }
          }
        })
      })
      r.on('error', (e) => { if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e) })
      r.end()
    })
    await got
    assert.equal(frames[0].peers.length, 0, 'the first frame is the state at connect')
    assert.ok(d.subscribers() <= 1)
  } finally {
    await d.close()
  }
})

test('loopback only; a taken port is a DashboardError', async () => {
  await assert.rejects(startDashboardServer({ host: '0.0.0.0' as never }), DashboardError)
  const a = await startDashboardServer({ port: 0 })
  try {
    await assert.rejects(startDashboardServer({ port: a.port }), (e: unknown) => e instanceof DashboardError && e.code === 'DASHBOARD_LISTEN')
  } finally {
    await a.close()
  }
})

test('the page loads at most 150 KB of JavaScript (every .js and .mjs it serves)', () => {
  const { assets } = loadAssets()
  let js = 0
  for (const [path, a] of assets) if (/\.(m?js)$/.test(path)) js += a.body.length
  assert.ok(js <= 150 * 1024, `${js} bytes of JavaScript`)
  console.log(`dashboard JavaScript served: ${js} bytes (${(js / 1024).toFixed(1)} KiB)`)
})
