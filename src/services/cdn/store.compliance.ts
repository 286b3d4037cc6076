/**
 * The compliance suite every `ChunkStore` must pass (run from store.test.ts against the memory and the SQLite
 * store). It pins what the cache relies on: a chunk reads back byte for byte, keyed by (content, index); a second
 * put of one key replaces it; the store keeps its own copy of what it was given; `count` counts one content's chunks.
 *
 * @example
 * ```ts
 * import { runChunkStoreCompliance } from './store.compliance.js'
 * runChunkStoreCompliance('memory', () => memoryChunkStore())
 * ```
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { ChunkStore } from './store.js'

/** Registers the suite for `name`; `make` gives a fresh, empty store for each test. */
export function runChunkStoreCompliance(name: string, make: () => ChunkStore): void {
  describe(`ChunkStore compliance: ${name}`, () => {
    test('a chunk reads back byte for byte under its (content, index); others are absent', () => {
      const s = make()
      const big = new Uint8Array(256 * 1024).map((_, i) => (i * 31) & 0xff)
      s.put('video', 0, new Uint8Array([1, 2, 3]))
      s.put('video', 7, big)
      s.put('audio', 0, new Uint8Array([9]))
      s.put('empty', 0, new Uint8Array(0))
      assert.deepEqual([...s.get('video', 0)!], [1, 2, 3])
      assert.deepEqual(s.get('video', 7), big)
      assert.deepEqual([...s.get('audio', 0)!], [9])
      assert.equal(s.get('empty', 0)!.length, 0)
      assert.equal(s.get('video', 1), undefined)
      assert.equal(s.get('other', 0), undefined)
      s.close?.()
    })

    test('a second put of one key replaces the chunk', () => {
      const s = make()
      s.put('video', 0, new Uint8Array([1, 2, 3]))
      assert.deepEqual([...s.get('video', 0)!], [1, 2, 3]) // read once (a store may keep it hot)
      s.put('video', 0, new Uint8Array([4, 5]))
      assert.deepEqual([...s.get('video', 0)!], [4, 5])
      assert.equal(s.count('video'), 1)
      s.close?.()
    })

    test('the store keeps its own copy: changing the given bytes afterwards changes nothing', () => {
      const s = make()
      const b = new Uint8Array([1, 2, 3])
      s.put('video', 0, b)
      b[0] = 99
      assert.deepEqual([...s.get('video', 0)!], [1, 2, 3])
      s.close?.()
    })

    test('count counts the chunks of one content', () => {
      const s = make()
      assert.equal(s.count('video'), 0)
      for (let i = 0; i < 5; i++) s.put('video', i, new Uint8Array([i]))
      s.put('audio', 0, new Uint8Array([0]))
      assert.equal(s.count('video'), 5)
      assert.equal(s.count('audio'), 1)
      assert.equal(s.count('none'), 0)
      s.close?.()
    })
  })
}
