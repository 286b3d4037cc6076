import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Address, Hex } from 'viem'
import { runMicrocashServerStoreCompliance, runSequenceStoreCompliance } from './store.compliance.js'
import { createMemoryMicrocashServerStore, createMemorySequenceStore, openSqliteMicrocashServerStore, openSqliteSequenceStore } from './store.js'

const dir = mkdtempSync(join(tmpdir(), 'souk-microcash-store-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0

runMicrocashServerStoreCompliance('memory', () => createMemoryMicrocashServerStore())
runMicrocashServerStoreCompliance('sqlite', () => openSqliteMicrocashServerStore(join(dir, `s${n++}.sqlite`)))
runSequenceStoreCompliance('memory', () => createMemorySequenceStore())
runSequenceStoreCompliance('sqlite', () => openSqliteSequenceStore(join(dir, `q${n++}.sqlite`)))

test('the SQLite microcash stores keep tickets, losses and reservations across a reopen of the same file', () => {
  const path = join(dir, 'reopen.sqlite')
  const lottery = `0x${'cc'.repeat(20)}` as Address
  const ticket = { round: 1, seq: 2, salt: `0x${'11'.repeat(32)}` as Hex, batch: false, proof: [], sig: `0x${'22'.repeat(65)}` as Hex }
  const a = openSqliteMicrocashServerStore(path)
  a.addTickets(lottery, 5n, [ticket])
  a.addLoss(lottery, { escrowId: 5n, round: 0, seq: 1, reason: 'draw-seed-lost', value: 3n })
  assert.deepEqual(openSqliteSequenceStore(path).reserve(5n, 1, 8, 100), [0, 8])
  a.close()
  const b = openSqliteMicrocashServerStore(path)
  assert.deepEqual(b.pendingSeqs(lottery, 5n, 1), [2])
  assert.deepEqual(b.losses(lottery), [{ escrowId: 5n, round: 0, seq: 1, reason: 'draw-seed-lost', value: 3n }])
  assert.deepEqual(openSqliteSequenceStore(path).reserve(5n, 1, 8, 100), [8, 16], 'a restart skips the reserved range')
  b.close()
})
