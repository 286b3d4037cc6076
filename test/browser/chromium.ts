/**
 * Shared helper for browser tests: launches a real Chromium with playwright-core, loads a page and collects console
 * errors and page errors. The browser is, in order: `SOUK_CHROMIUM` if set, a system Chromium (Debian's `chromium`,
 * `chromium-browser`, Google Chrome), else the Chromium that ships inside the `@sparticuz/chromium` npm package
 * (unpacked to the temp folder on first use, ~3 s), so `npm install && npm test` needs nothing but Node. A browser
 * that cannot start is a failure, never a skip.
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

/** System browsers looked for, first found wins. */
export const SYSTEM_CHROMIUMS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

/** Where the browser comes from, and how to start it. */
export async function findChromium(): Promise<{ executablePath: string; args: string[]; source: 'env' | 'system' | 'npm' }> {
  const env = process.env.SOUK_CHROMIUM
  if (env) {
    if (!existsSync(env)) throw new Error(`SOUK_CHROMIUM=${env} does not exist. Point it at a Chromium binary, or unset it to use the system's or the npm one.`)
    return { executablePath: env, args: CHROMIUM_ARGS, source: 'env' }
  }
  const sys = SYSTEM_CHROMIUMS.find((p) => existsSync(p))
  if (sys) return { executablePath: sys, args: CHROMIUM_ARGS, source: 'system' }
  let packaged: { executablePath(): Promise<string>; args: string[] }
  try {
    packaged = (await import('@sparticuz/chromium')).default as typeof packaged
  } catch (e) {
    throw new Error(`No Chromium found: none of ${SYSTEM_CHROMIUMS.join(', ')} exists and @sparticuz/chromium is not installed (${(e as Error).message}). Run npm install, or set SOUK_CHROMIUM.`)
  }
  return { executablePath: await packaged.executablePath(), args: [...packaged.args, '--disable-gpu'], source: 'npm' }
}

export async function launchChromium(): Promise<Browser> {
  const { executablePath, args } = await findChromium()
  return chromium.launch({ executablePath, args, headless: true })
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
