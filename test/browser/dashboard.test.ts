// The live dashboard in a real Chromium: it loads without console errors, loads at most 150 KB of JavaScript, draws
// its charts, and a peer or chain event pushed to the server reaches the screen within 1 s. A screenshot is kept at
// test-artifacts/dashboard.png (gitignored; the path is printed).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { withPage } from './chromium.js'
import { createDashboardState } from '../../src/dashboard/state.js'
import { startDashboardServer } from '../../src/dashboard/server.js'

const root = new URL('../../', import.meta.url).pathname
export const SCREENSHOT = join(root, 'test-artifacts', 'dashboard.png')

/** A recorded cdn run (src/dashboard/fixtures), its times moved to end now, and the chain's blocks beside it. */
function replayedState() {
  const state = createDashboardState()
  const events = readFileSync(join(root, 'src/dashboard/fixtures/cdn-run.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { at: number; kind: string })
  const shift = Date.now() - events[events.length - 1].at
  const t0 = events[0].at
  let block = 4
  for (const e of events) {
    state.apply(e, e.at + shift)
    if (e.kind === 'paid' || e.kind === 'deal') state.apply({ kind: 'chain-block', number: ++block, transactions: 1, gasUsed: String(60_000 + ((e.at - t0) % 9) * 1000) }, e.at + shift)
  }
  state.apply({ kind: 'testnet', market: 'cdn', scheme: 'lottery' }, Date.now())
  state.apply({ kind: 'run-info', dataDir: '/tmp/souk-testnet-example', deploymentPath: '/tmp/souk-testnet-example/deployment.json',
    accounts: [{ role: 'deployer', address: '0x' + '1a'.repeat(20) }, { role: 'publisher', address: '0xb9545abc387f196b4e2ff2d46d002610778afb18' }] }, Date.now())
  return state
}

test('the dashboard renders a run without errors, in at most 150 KB of JavaScript, and shows a pushed event within 1 s', { timeout: 120_000 }, async () => {
  const d = await startDashboardServer({ port: 0, state: replayedState() })
  try {
    await withPage(d.url, async (page, errors) => {
      await page.waitForSelector('body[data-rendered="true"]', { timeout: 15_000 })
      await page.waitForSelector('#chart-work .uplot canvas', { timeout: 15_000 })
      await page.waitForSelector('#live.live', { timeout: 15_000 })
      assert.equal(await page.locator('#peers tr[data-peer]').count(), 5)
      assert.equal(await page.locator('#payments tr[data-server]').count(), 2)
      assert.match(await page.locator('#tickets-issued b').innerText(), /^16$/)
      assert.ok((await page.locator('#cheaters li[data-cheater]').count()) >= 2)
      assert.match(await page.locator('#rpc-url').innerText(), /^http:\/\/127\.0\.0\.1:\d+\/$/)
      assert.equal(await page.locator('#chart-chain .uplot canvas').count(), 1)

      // Every script the page loads (the module graph and uPlot), counted from the responses of a fresh load.
      assert.deepEqual(errors, [], 'no errors on the first load')
      // The cache is off for the reload: with it on, a browser may revalidate and get 304s, which carry no body.
      const cdp = await page.context().newCDPSession(page)
      await cdp.send('Network.setCacheDisabled', { cacheDisabled: true })
      const scripts = new Map<string, Promise<number>>()
      page.on('response', (r) => {
        if (r.request().resourceType() !== 'script') return
        scripts.set(r.url(), r.status() === 200 ? r.body().then((b) => b.length) : Promise.reject(new Error(`${r.url()} answered ${r.status()} with the cache disabled`)))
      })
      await page.reload({ waitUntil: 'load' })
      // (the reload cut the first load's event stream: that one failed request is ours)
      const cut = errors.findIndex((e) => /^requestfailed: .*\/api\/events$/.test(e))
      if (cut >= 0) errors.splice(cut, 1)
      await page.waitForSelector('#chart-work .uplot canvas', { timeout: 15_000 })
      const sizes = await Promise.all(scripts.values())
      const js = sizes.reduce((a, b) => a + b, 0)
      console.log(`dashboard JavaScript loaded by the page: ${js} bytes (${(js / 1024).toFixed(1)} KiB) in ${scripts.size} files`)
      assert.ok(scripts.size >= 5 && js > 50_000, `the page loaded its libraries (${scripts.size} files, ${js} bytes)`)
      assert.ok(js <= 150 * 1024, `${js} bytes of JavaScript`)
      await page.waitForSelector('#live.live', { timeout: 15_000 })

      // The requirement itself: a peer event and a chain event reach the screen within 1 s of being pushed.
      let t = performance.now()
      d.push({ kind: 'listening', role: 'cache', name: 'cache-9', peerId: '12D3KooWNewPeer' })
      await page.waitForSelector('#peers tr[data-peer="cache-9"]', { timeout: 1_000 })
      const peerMs = performance.now() - t
      t = performance.now()
      d.push({ kind: 'chain-block', number: 4242, transactions: 7, gasUsed: '420000' })
      await page.waitForFunction(() => document.querySelector('#stat-block b')?.textContent === '4242', undefined, { timeout: 1_000 })
      const chainMs = performance.now() - t
      console.log(`pushed events on screen after: peer ${peerMs.toFixed(0)} ms, chain ${chainMs.toFixed(0)} ms`)

      mkdirSync(join(root, 'test-artifacts'), { recursive: true })
      await page.screenshot({ path: SCREENSHOT, fullPage: true })
      console.log(`dashboard screenshot: ${SCREENSHOT}`)
      assert.deepEqual(errors, [])
    })
  } finally {
    await d.close()
  }
})
