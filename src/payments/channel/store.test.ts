import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Address, Hex } from 'viem'
import { runChannelVoucherStoreCompliance } from './store.compliance.js'
import { createMemoryChannelVoucherStore, openSqliteChannelVoucherStore } from './store.js'

const dir = mkdtempSync(join(tmpdir(), 'souk-channel-store-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0

runChannelVoucherStoreCompliance('memory', () => createMemoryChannelVoucherStore())
runChannelVoucherStoreCompliance('sqlite', () => openSqliteChannelVoucherStore(join(dir, `c${n++}.sqlite`)))

test('the SQLite channel store keeps its vouchers across a reopen of the same file', () => {
  const path = join(dir, 'reopen.sqlite')
  const a = openSqliteChannelVoucherStore(path)
  const channelId = `0x${'11'.repeat(32)}` as Hex, sender = `0x${'22'.repeat(20)}` as Address, sig = `0x${'33'.repeat(65)}` as Hex
  a.upsert({ channelId, sender, cumulative: 8n, sig, collected: 0n, fromBlock: 3n })
  a.markCollected(channelId, 5n)
  a.close()
  const b = openSqliteChannelVoucherStore(path)
  assert.deepEqual(b.all(), [{ channelId, sender, cumulative: 8n, sig, collected: 5n, closed: false, fromBlock: 3n }])
  b.close()
})
