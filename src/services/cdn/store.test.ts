import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase } from '../../core/db.js'
import { runChunkStoreCompliance } from './store.compliance.js'
import { memoryChunkStore, sqliteChunkStore } from './store.js'

const dir = mkdtempSync(join(tmpdir(), 'souk-chunk-store-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0

runChunkStoreCompliance('memory', () => memoryChunkStore())
runChunkStoreCompliance('sqlite', () => sqliteChunkStore(openDatabase(join(dir, `c${n++}.sqlite`))))

test('the SQLite chunk store keeps its chunks across a reopen of the same file', () => {
  const path = join(dir, 'reopen.sqlite')
  const a = sqliteChunkStore(openDatabase(path))
  a.put('video', 3, new Uint8Array([7, 8]))
  a.close?.()
  const b = sqliteChunkStore(openDatabase(path))
  assert.deepEqual([...b.get('video', 3)!], [7, 8])
  assert.equal(b.count('video'), 1)
  b.close?.()
})
