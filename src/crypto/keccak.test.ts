/** keccak256: the WebAssembly build, the native addon and noble agree on every length, at block edges and on vectors. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { keccak256, keccak256Addon, keccak256Noble, keccak256Scratch, keccakBackend } from './keccak.js'
import { keccak256Wasm } from './keccak-wasm.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

test('the WebAssembly keccak256 is the default and gives the known vectors', () => {
  assert.ok(keccak256Wasm, 'WebAssembly instantiates on Node')
  assert.equal(keccakBackend, 'wasm')
  assert.equal(hex(keccak256(new Uint8Array(0))), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
  assert.equal(hex(keccak256(Buffer.from('abc'))), '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45')
})

test('WebAssembly, native and noble keccak256 agree: every length 0-700 (block edges at 135, 136, 271, 272), random inputs, and inputs past the first memory page', () => {
  const impls = [keccak256Wasm!, keccak256Noble, ...(keccak256Addon ? [keccak256Addon] : [])]
  for (let n = 0; n <= 700; n++) {
    const d = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n * 7) & 255)
    const want = hex(keccak256Noble(d))
    for (const f of impls) assert.equal(hex(f(d)), want, `length ${n}`)
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (d) => { for (const f of impls) assert.equal(hex(f(d)), hex(keccak256Noble(d))) }), { numRuns: 300 })
  const big = Uint8Array.from({ length: 200_000 }, (_, i) => i & 255)
  assert.equal(hex(keccak256Wasm!(big)), hex(keccak256Noble(big)))
  // And the small inputs after the big one (the grown memory is reused, the state reset).
  assert.equal(hex(keccak256Wasm!(new Uint8Array(0))), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
})

test('the WebAssembly keccak256 does not alias its output or keep its input', () => {
  const a = keccak256Wasm!(Buffer.from('a'))
  const copy = hex(a)
  keccak256Wasm!(Buffer.from('b'))
  assert.equal(hex(a), copy, 'an earlier digest is not overwritten by the next hash')
})

test('keccak256Scratch gives the same digest as keccak256, as a view the next hash overwrites (WebAssembly build)', () => {
  const a = Buffer.from('a'), b = Buffer.from('b')
  const va = keccak256Scratch(a)
  assert.equal(hex(va), hex(keccak256Noble(a)))
  const copy = hex(va)
  const vb = keccak256Scratch(b)
  assert.equal(hex(vb), hex(keccak256Noble(b)))
  if (keccakBackend === 'wasm') assert.notEqual(hex(va), copy, 'a scratch view is reused: copy it before the next hash')
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (d) => { assert.equal(hex(keccak256Scratch(d)), hex(keccak256Noble(d))) }), { numRuns: 200 })
})
