/**
 * The public API, one entry per layer (package.json `exports`), snapshot-tested: every name each entry exports and
 * what kind of value it is. A change to the public surface shows up here as a diff to review; regenerate the
 * snapshot on purpose with `SOUK_UPDATE_API=1 npm test -- test/api`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { join } from 'node:path'

const root = fileURLToPath(new URL('../..', import.meta.url))
const SNAPSHOT = join(root, 'test/api/public-api.json')

type Surface = Record<string, Record<string, string>>

async function surface(): Promise<Surface> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, string> }
  const out: Surface = {}
  for (const [entry, file] of Object.entries(pkg.exports).sort(([a], [b]) => a.localeCompare(b))) {
    if (entry === './package.json') continue
    const mod = (await import(pathToFileURL(join(root, file)).href)) as Record<string, unknown>
    out[entry] = Object.fromEntries(Object.keys(mod).sort().map((k) => [k, kindOf(mod[k])]))
  }
  return out
}

function kindOf(v: unknown): string {
  if (typeof v === 'function') return /^class\s/.test(Function.prototype.toString.call(v)) ? 'class' : 'function'
  if (v === null) return 'null'
  if (typeof v === 'object') return 'object'
  return typeof v
}

test('every layer has an exports entry, and the public API matches its snapshot', async () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, string> }
  for (const layer of ['chain', 'core', 'crypto', 'exchange', 'market', 'net', 'payments', 'proofs/capnet', 'services', 'services/cdn', 'threat', 'viability']) {
    assert.ok(pkg.exports[`./${layer}`], `package.json exports ./${layer}`)
    assert.ok(existsSync(join(root, pkg.exports[`./${layer}`]!)), `./${layer} points at a file`)
  }
  const now = await surface()
  if (process.env.SOUK_UPDATE_API === '1' || !existsSync(SNAPSHOT)) {
    writeFileSync(SNAPSHOT, `${JSON.stringify(now, null, 2)}\n`)
    if (process.env.SOUK_UPDATE_API !== '1') assert.fail('test/api/public-api.json did not exist: written now, commit it')
    return
  }
  const before = JSON.parse(readFileSync(SNAPSHOT, 'utf8')) as Surface
  assert.deepEqual(now, before, 'the public API changed: review the diff, then SOUK_UPDATE_API=1 npm test -- test/api')
})
