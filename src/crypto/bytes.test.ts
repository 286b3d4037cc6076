import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { bytesToHex, hexToBytes, InvalidHexError, readWord, writeWord } from './bytes.js'

const invalid = (problem: string) => (e: unknown) => e instanceof InvalidHexError && e.code === 'INVALID_HEX' && e.details.problem === problem

test('hexToBytes: valid hex with or without 0x gives its bytes (upper or lower case; 0x alone is empty)', () => {
  assert.deepEqual([...hexToBytes('0x00ff10Ab')], [0x00, 0xff, 0x10, 0xab])
  assert.deepEqual([...hexToBytes('00ff10ab')], [0x00, 0xff, 0x10, 0xab])
  assert.deepEqual([...hexToBytes('0x00ff10ab', { prefixed: true })], [0x00, 0xff, 0x10, 0xab])
  assert.equal(hexToBytes('0x').length, 0)
  assert.equal(hexToBytes('').length, 0)
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
    const h = bytesToHex(b)
    assert.deepEqual([...hexToBytes(h)], [...b])
    assert.deepEqual([...hexToBytes(h.slice(2))], [...b])
    assert.deepEqual([...hexToBytes(h.toUpperCase().replace('0X', '0x'))], [...b])
  }))
})

test('hexToBytes: an odd length throws InvalidHexError (odd-length)', () => {
  for (const h of ['0x1', '0x123', '1', 'abc']) assert.throws(() => hexToBytes(h), invalid('odd-length'), h)
})

test('hexToBytes: a non-hex character anywhere throws InvalidHexError (not-hex), never a truncated result', () => {
  for (const h of ['0xzz', '0x12zz', '0x1234567g', 'gg', '0x 1', '0X12', '0x0x12', '12\n3']) {
    assert.throws(() => hexToBytes(h), invalid(h.length % 2 ? 'odd-length' : 'not-hex'), JSON.stringify(h))
  }
})

test('hexToBytes: a missing 0x throws InvalidHexError (missing-0x) where the prefix is required', () => {
  assert.throws(() => hexToBytes('00ff', { prefixed: true }), invalid('missing-0x'))
  assert.throws(() => hexToBytes('', { prefixed: true }), invalid('missing-0x'))
})

test('writeWord: numbers and bigints write the same word; out of range throws RangeError', () => {
  fc.assert(fc.property(fc.maxSafeNat(), (n) => {
    const a = new Uint8Array(40).fill(7)
    const b = new Uint8Array(40).fill(7)
    writeWord(a, 4, n)
    writeWord(b, 4, BigInt(n))
    assert.deepEqual(a, b)
    assert.equal(readWord(a, 4), BigInt(n))
  }))
  const w = new Uint8Array(32)
  writeWord(w, 0, (1n << 256n) - 1n)
  assert.equal(readWord(w), (1n << 256n) - 1n)
  for (const v of [-1n, 1n << 256n, -1, 2 ** 53, 1.5, Number.NaN]) assert.throws(() => writeWord(w, 0, v), RangeError, String(v))
})
