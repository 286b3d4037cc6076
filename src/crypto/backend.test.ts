import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { addressOf, bytesToHex, keccak256, keccakBackend, recoverDigest, secpBackend, signDigest } from './index.js'

const here = fileURLToPath(new URL('.', import.meta.url))
// Signs, recovers and derives an address in a fresh process, so that the backends are chosen under `env`.
const script = `
import { addressOf, bytesToHex, keccak256, keccakBackend, recoverDigest, secpBackend, signDigest } from './index.ts'
const key = keccak256(new TextEncoder().encode('key'))
const digest = keccak256(new TextEncoder().encode('digest'))
const sig = signDigest(digest, key)
console.log(JSON.stringify({ keccakBackend, secpBackend, sig: bytesToHex(sig), address: addressOf(key), recovered: recoverDigest(digest, sig) }))
`
function inChild(env: Record<string, string>) {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: here, env: { ...process.env, SOUK_PURE_JS: '', ...env }, encoding: 'utf8' })
  return JSON.parse(out) as { keccakBackend: string; secpBackend: string; sig: string; address: string; recovered: unknown }
}

test('SOUK_PURE_JS=1 selects the noble backends, which sign, recover and derive addresses as the native ones do', () => {
  const pure = inChild({ SOUK_PURE_JS: '1' })
  assert.equal(pure.keccakBackend, 'noble')
  assert.equal(pure.secpBackend, 'noble')
  const key = keccak256(new TextEncoder().encode('key'))
  const digest = keccak256(new TextEncoder().encode('digest'))
  const sig = signDigest(digest, key)
  assert.equal(pure.sig, bytesToHex(sig))
  assert.equal(pure.address, addressOf(key))
  assert.deepEqual(pure.recovered, recoverDigest(digest, sig))
  assert.deepEqual(pure.recovered, { ok: true, address: addressOf(key) })
  // Without the variable the process gets whatever loads here (native on the reference machine), the same as this one.
  const dflt = inChild({})
  assert.deepEqual([dflt.keccakBackend, dflt.secpBackend], [keccakBackend, secpBackend])
})
