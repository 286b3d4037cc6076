/**
 * Runs every `*.test.ts` under src/ and test/ with node's own test runner (CI reads its closing lines).
 * Usage: npm test [-- <filter substring>...]
 * Environment: SOUK_TEST_SCALE=nightly for the long property runs.
 */
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawnSync } from 'node:child_process'

const root = new URL('..', import.meta.url).pathname
function walk(dir: string, out: string[]): string[] {
  let names: string[] = []
  try { names = readdirSync(dir) } catch { return out }
  for (const n of names) {
    if (n === 'node_modules' || n.startsWith('.')) continue
    const p = join(dir, n)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (n.endsWith('.test.ts')) out.push(p)
  }
  return out
}
const filters = process.argv.slice(2)
const files = [...walk(join(root, 'src'), []), ...walk(join(root, 'test'), []), ...walk(join(root, 'bench'), [])]
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
if (files.length === 0) {
  console.error('No test files matched.')
  process.exit(1)
}
const build = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-contracts.ts'], { cwd: root, stdio: 'inherit' })
if (build.status !== 0) process.exit(build.status ?? 1)
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, SOUK_LOG_LEVEL: process.env.SOUK_LOG_LEVEL ?? 'error' },
})
process.exit(r.status ?? 1)
