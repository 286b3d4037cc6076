/**
 * Shared helper for browser tests: launches Debian's chromium with playwright-core, loads a page and collects
 * console errors and page errors. CI installs chromium with apt in `.ci/run`; a missing browser is a failure,
 * never a skip.
 *
 * @example
 * ```ts
 * import { withPage } from '../../test/browser/chromium.js'
 * await withPage('file:///tmp/report.html', async (page, errors) => {
 *   await page.waitForSelector('svg')
 *   // errors: console errors and uncaught exceptions seen so far
 * })
 * ```
 */
import { existsSync } from 'node:fs'
import { chromium, type Page, type Browser } from 'playwright-core'

export const CHROMIUM_PATH = process.env.SOUK_CHROMIUM ?? '/usr/bin/chromium'
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}. Install it: apt-get update && apt-get install -y chromium (CI does this in .ci/run), or set SOUK_CHROMIUM.`)
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true })
}

/** Opens `url` in a fresh page, runs `fn`, and always closes the browser. `errors` fills as the page logs them. */
export async function withPage<T>(url: string, fn: (page: Page, errors: string[]) => Promise<T>): Promise<T> {
  const browser = await launchChromium()
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    const errors: string[] = []
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`) })
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
    page.on('requestfailed', (r) => errors.push(`requestfailed: ${r.url()}`))
    await page.goto(url, { waitUntil: 'load' })
    return await fn(page, errors)
  } finally {
    await browser.close()
  }
}
