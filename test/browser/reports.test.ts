// Renders the threat, viability and market HTML reports in headless chromium: no console or page errors, plots drawn.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { withPage } from './chromium.js'
import { loadThreatModel } from '../../src/threat/load.js'
import { renderHtml, caseAnchor } from '../../src/threat/report.js'
import { buildViabilityReport, renderViabilityHtml } from '../../src/viability/report.js'
import { readPlotLibraries } from '../../src/viability/libs.js'
import { PRESETS } from '../../src/viability/presets.js'
import { simulateViability, simulateCatalog } from '../../src/viability/montecarlo.js'
import { parseViabilityInputs } from '../../src/viability/schema.js'
import { renderMarketHtml } from '../../src/market/report.js'
import { runMarketScenario } from '../../src/market/scenario.js'
import { createMemoryNetwork } from '../../src/net/index.js'
import { systemClock } from '../../src/core/clock.js'
import { silentLogger } from '../../src/core/logger.js'
import { seededRng } from '../../src/crypto/rng.js'

const dir = mkdtempSync(join(tmpdir(), 'souk-browser-'))

test('viability report renders every plot without errors', async () => {
  const p = PRESETS['bbc-iplayer']
  const file = join(dir, 'viability.html')
  writeFileSync(file, renderViabilityHtml(buildViabilityReport(p.inputs, { title: p.title, reportedOffload: p.reportedOffload, assumptions: p.assumptions }), readPlotLibraries()))
  await withPage(`file://${file}`, async (page, errors) => {
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 15_000 })
    for (const id of ['plot-swarm', 'plot-rank', 'plot-cost', 'tornado-offload', 'tornado-sponsorCostPerGB', 'tornado-savings']) {
      assert.ok((await page.locator(`#${id} svg`).count()) >= 1, `no svg in #${id}`)
    }
    assert.ok((await page.locator('#plot-swarm svg path').count()) >= 1, 'offload curve not drawn')
    assert.ok((await page.locator('#tornado-offload svg rect').count()) >= 10, 'tornado bars not drawn')
    await page.screenshot({ path: join(dir, 'viability.png'), fullPage: true })
    assert.deepEqual(errors, [])
  })
})

test('viability report: the Monte Carlo plots and its verdict, the verdict tests and the supply side, without errors', async () => {
  const p = PRESETS['bbc-iplayer']
  const inputs = parseViabilityInputs(p.inputs)
  const uncertainty = simulateViability(inputs, { draws: 150, seed: 1 })
  const monteCarlo = simulateCatalog({ catalogSize: 3000, zipfExponent: 1, arrivalRatePerSec: inputs.demand.arrivalRatePerSec / 4, watchTimeSec: 1800, items: 3, horizonSec: 50 * 1800, seed: 1 })
  const file = join(dir, 'viability-mc.html')
  writeFileSync(file, renderViabilityHtml(buildViabilityReport(inputs, { title: p.title, reportedOffload: p.reportedOffload, assumptions: p.assumptions, uncertainty, monteCarlo }), readPlotLibraries()))
  await withPage(`file://${file}`, async (page, errors) => {
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 15_000 })
    assert.equal(await page.locator('#plot-mc svg circle').count(), 150 + 1, 'one dot per draw and the base')
    assert.ok((await page.locator('#plot-mc-hist svg rect').count()) >= 5, 'histogram not drawn')
    assert.ok((await page.locator('#plot-check svg circle').count()) >= 3, 'check plot not drawn')
    assert.match(await page.locator('#mc-verdict').innerText(), /^Viable in \d+\.\d% of 150 draws \(95% CI/)
    assert.match(await page.locator('#check-verdict').innerText(), /closed form/)
    assert.equal(await page.locator('#verdict li').count(), 3)
    assert.match(await page.locator('#verdict').innerText(), /^VIABLE/)
    assert.match(await page.locator('#supply').innerText(), /earnings a month/)
    assert.ok((await page.locator('#tornado-peerProfitPerMonth svg rect').count()) >= 10)
    assert.deepEqual(errors, [])
  })
})

test('viability report of a failing preset names the failing test', async () => {
  const p = PRESETS['storage-retrieval']
  const file = join(dir, 'viability-sr.html')
  writeFileSync(file, renderViabilityHtml(buildViabilityReport(parseViabilityInputs(p.inputs), { title: p.title, assumptions: p.assumptions }), readPlotLibraries()))
  await withPage(`file://${file}`, async (page, errors) => {
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 15_000 })
    assert.match(await page.locator('#verdict').innerText(), /^NOT VIABLE: offload, savings fail/)
    assert.match(await page.locator('#verdict li[data-test="offload"]').innerText(), /FAIL offload: offload too low/)
    assert.deepEqual(errors, [])
  })
})

test('threat report renders its matrices without errors', async () => {
  const file = join(dir, 'cdn.html')
  const { analysis } = loadThreatModel(new URL('../../models/cdn.yaml', import.meta.url).pathname)
  writeFileSync(file, renderHtml(analysis))
  await withPage(`file://${file}`, async (page, errors) => {
    assert.equal(await page.locator('table.matrix').count(), analysis.matrices.length)
    assert.equal(await page.locator('td.s-open').count(), 0)
    assert.ok((await page.locator('td.s-mitigated').count()) > 0)
    assert.match(await page.locator('#counts').innerText(), new RegExp(`${analysis.counts.enumerated}\\s*enumerated`))
    assert.deepEqual(errors, [])
  })
})

test('threat report: a table of contents whose links all land, open cases highlighted and linked from the summary', async () => {
  const model = join(dir, 'open.yaml')
  writeFileSync(model, readFileSync(new URL('../../src/threat/fixtures/toy.yaml', import.meta.url), 'utf8').replace(/  - category: theft\n    status: mitigated\n    mitigations: \[sigs\]\n/, ''))
  const { analysis } = loadThreatModel(model)
  assert.equal(analysis.counts.open, 1)
  const file = join(dir, 'open.threat.html')
  writeFileSync(file, renderHtml(analysis))
  await withPage(`file://${file}`, async (page, errors) => {
    const toc = page.locator('nav#toc a')
    assert.ok((await toc.count()) >= 6, 'table of contents too short')
    for (const href of await toc.evaluateAll((as) => as.map((a) => a.getAttribute('href')!))) {
      assert.equal(await page.locator(`[id="${href.slice(1)}"]`).count(), 1, `TOC link ${href} lands nowhere`)
    }
    const link = page.locator('#open-cases li.s-open a')
    assert.equal(await link.count(), 1)
    assert.equal(await link.getAttribute('href'), `#${caseAnchor('theft:client->coin')}`)
    await link.click()
    assert.equal(await page.evaluate(() => location.hash), `#${caseAnchor('theft:client->coin')}`)
    const target = page.locator(`[id="${caseAnchor('theft:client->coin')}"]`)
    assert.match((await target.getAttribute('class'))!, /s-open/)
    assert.equal(await target.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(255, 221, 221)') // highlighted red
    assert.ok(await target.evaluate((el) => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight }), 'the case is not scrolled into view')
    assert.equal(await page.locator('td.s-open a').count(), 1, 'the open matrix cell links to its case')
    assert.deepEqual(errors, [])
  })
})

test('market report renders its three plots without errors', async () => {
  const net = createMemoryNetwork()
  const r = await runMarketScenario({ servers: 4, buyers: 8, rounds: 3, newTransport: (id) => net.createTransport({ peerId: id }), clock: systemClock(), rng: seededRng('browser'), logger: silentLogger() })
  const file = join(dir, 'market.html')
  writeFileSync(file, renderMarketHtml(r, readPlotLibraries()))
  await withPage(`file://${file}`, async (page, errors) => {
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 15_000 })
    for (const id of ['plot-price', 'plot-time', 'plot-hired']) assert.ok((await page.locator(`#${id} svg`).count()) >= 1, `no svg in #${id}`)
    assert.ok((await page.locator('#plot-price svg path').count()) >= 2, 'price lines not drawn')
    assert.equal(await page.locator('#plot-hired svg circle').count(), 4, 'one dot per server')
    assert.deepEqual(errors, [])
  })
})
