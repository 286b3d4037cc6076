import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { Address, Hex } from 'viem'
import { runLotteryPayeeStoreCompliance } from './store.compliance.js'
import { createMemoryLotteryPayeeStore, openSqliteLotteryPayeeStore } from './store.js'

const dir = mkdtempSync(join(tmpdir(), 'souk-lottery-store-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0

runLotteryPayeeStoreCompliance('memory', () => createMemoryLotteryPayeeStore())
runLotteryPayeeStoreCompliance('sqlite', () => openSqliteLotteryPayeeStore(join(dir, `l${n++}.sqlite`)))

const scope = { chainId: 31337, broker: `0x${'cc'.repeat(20)}` as Address }
const sender = `0x${'aa'.repeat(20)}` as Address
const w = { sender, nonce: 1n, face: 100n, winProb: 5n, randHash: `0x${'11'.repeat(32)}` as Hex, rand: 9n, expiration: 50n, sig: `0x${'22'.repeat(65)}` as Hex, createdBlock: 3n }

test('the SQLite lottery store keeps winners and rands across a reopen of the same file', () => {
  const path = join(dir, 'reopen.sqlite')
  const a = openSqliteLotteryPayeeStore(path)
  a.putRand(scope, { hash: w.randHash, rand: w.rand, payer: sender, createdAt: 4 })
  a.addWinners(scope, [w, { ...w, nonce: 2n }])
  a.mark(a.pendingWinners(scope).find((x) => x.nonce === 2n)!.id, 'redeemed', '0x01', null)
  a.close()
  const b = openSqliteLotteryPayeeStore(path)
  assert.deepEqual(b.pendingWinners(scope).map(({ id: _, ...x }) => x), [{ ...w, status: 'pending', tx: null, reason: null }])
  assert.deepEqual(b.rands(scope), [{ hash: w.randHash, rand: w.rand, payer: sender, createdAt: 4, retired: false }])
  b.close()
})

test('a SQLite lottery store from before lanes (no created_block) is upgraded in place; its rows have no createdBlock', () => {
  const path = join(dir, 'old.sqlite')
  const db = new Database(path)
  db.exec(`create table lottery_winners (
    id integer primary key autoincrement, chain_id integer not null, broker text not null, sender text not null,
    nonce text not null, face text not null, win_prob text not null, rand_hash text not null, rand text not null,
    expiration text not null, sig text not null, status text not null default 'pending', tx text, reason text,
    unique (chain_id, broker, sender, nonce))`)
  db.prepare('insert into lottery_winners (chain_id, broker, sender, nonce, face, win_prob, rand_hash, rand, expiration, sig) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .run(scope.chainId, scope.broker, sender, '7', '100', '5', w.randHash, '9', '50', w.sig)
  db.close()
  const s = openSqliteLotteryPayeeStore(path)
  const [old] = s.pendingWinners(scope)
  assert.equal(old!.nonce, 7n)
  assert.equal(old!.createdBlock, undefined)
  assert.equal('createdBlock' in old!, false)
  s.addWinners(scope, [w])
  assert.deepEqual(s.pendingWinners(scope).map((x) => x.createdBlock).sort(), [3n, undefined])
  s.close()
})
