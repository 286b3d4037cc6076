// Opens the simulator's report (souk sim sweep's report.html) in headless Chromium: no console or page errors, no
// request leaves the page (it opens offline), every metric's plot drawn with its error bars.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { withPage } from './chromium.js'
import { parseScenario } from '../../src/sim/scenario.js'
import { runSweep } from '../../src/sim/sweep.js'
import { writeSimReport } from '../../src/sim/report.js'
import { runScenarioPoint as fixtureRunner } from '../../src/sim/fixtures/runner.js'

test('simulator report renders every plot offline without errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'souk-sim-browser-'))
  const scenario = parseScenario(`souk: scenario/1
name: browser
market: cdn
seed: 4
runs: 4
durationMs: 60000
peers:
  - { name: publisher, role: publisher }
  - { name: cache, role: cache, count: 2 }
  - { name: client, role: client, count: 2 }
sweep:
  cartesian: { "network.jitterMs": [0, 5, 10], "peers.cache.count": [1, 2] }
`, 'browser.yaml')
  await runSweep({ scenario, outDir: dir, workers: 0, runner: fixtureRunner as never })
  const file = writeSimReport(dir)
  await withPage(`file://${file}`, async (page, errors) => {
    const requests: string[] = []
    page.on('request', (r) => { if (!r.url().startsWith('file://')) requests.push(r.url()) })
    await page.reload()
    assert.equal(await page.locator('figure[data-metric] svg').count(), 3)
    assert.equal(await page.locator('figure[data-metric="profit"] svg .errorbar').count(), 6)
    assert.equal(await page.locator('figure[data-metric="profit"] svg .legend').count(), 2)
    const box = await page.locator('figure[data-metric="profit"] svg').boundingBox()
    assert.ok(box && box.width > 300 && box.height > 200, 'the plot has its size')
    assert.match(await page.locator('#facts').innerText(), /6 sweep points · 24 runs recorded · 0 failed/)
    await page.screenshot({ path: join(dir, 'report.png'), fullPage: true })
    assert.deepEqual(requests, [])
    assert.deepEqual(errors, [])
  })
})
