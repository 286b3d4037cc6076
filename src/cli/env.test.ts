import { test } from 'node:test'
import assert from 'node:assert/strict'
import { applyEnvironment } from './env.js'
import { keccakBackend, secpBackend, selectCryptoBackends } from '../crypto/index.js'

test('SOUK_PURE_JS=1 selects the noble backends; without it the backends stay as they are', () => {
  const before = [keccakBackend, secpBackend]
  try {
    applyEnvironment({ SOUK_PURE_JS: '' })
    assert.deepEqual([keccakBackend, secpBackend], before)
    applyEnvironment({ SOUK_PURE_JS: '1' })
    assert.deepEqual([keccakBackend, secpBackend], ['noble', 'noble'])
  } finally {
    selectCryptoBackends('native')
  }
  assert.deepEqual([keccakBackend, secpBackend], before)
})
