/**
 * Mutation testing of the trust-boundary code with StrykerJS and its TAP runner (docs/testing.md).
 * Usage: npm run mutate [-- <area>... [<stryker option>...]]. Areas: codec, capnet, lottery-payee, channel-payee,
 * microcash-server (the three: payees), model, microcash-ticket (the two: twins); default: all of them.
 * Reports: reports/mutation/<areas>.html and .json. Not part of `npm test` (the whole run takes a long while).
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const { areas, groups } = (await import(new URL('../stryker.config.mjs', import.meta.url).href)) as { areas: Record<string, unknown>; groups: Record<string, string[]> }
const args = process.argv.slice(2)
const firstOption = args.findIndex((a) => a.startsWith('-'))
const chosen = firstOption < 0 ? args : args.slice(0, firstOption)
const options = firstOption < 0 ? [] : args.slice(firstOption)
const unknown = chosen.filter((a) => !(a in areas) && !(a in groups))
if (unknown.length) {
  console.error(`Unknown area ${unknown.join(', ')}; areas: ${[...Object.keys(areas), ...Object.keys(groups)].join(', ')}`)
  process.exit(2)
}
const build = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-contracts.ts'], { cwd: root, stdio: 'inherit' })
if (build.status !== 0) process.exit(build.status ?? 1)
const stryker = fileURLToPath(new URL('../node_modules/@stryker-mutator/core/bin/stryker.js', import.meta.url))
const r = spawnSync(process.execPath, [stryker, 'run', 'stryker.config.mjs', ...options], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, SOUK_MUTATE_AREAS: chosen.join(','), SOUK_LOG_LEVEL: process.env.SOUK_LOG_LEVEL ?? 'error' },
})
process.exit(r.status ?? 1)
