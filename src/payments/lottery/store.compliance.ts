/**
 * The compliance suite every `LotteryPayeeStore` must pass (run from store.test.ts against the SQLite and the memory
 * store). It pins what the lottery payee relies on: a batch of winners is stored all or none; (chain id, broker,
 * sender, nonce) is unique; a winner moves from `pending` to `redeemed`, `claim` or `lost` and then no longer counts
 * as pending (count, rows, face by sender); everything is scoped by chain id and broker; rands are stored active
 * and retired one by one or all at once. It does not pin the order rows come back in: the payee sorts them itself.
 *
 * @example
 * ```ts
 * import { runLotteryPayeeStoreCompliance } from './store.compliance.js'
 * runLotteryPayeeStoreCompliance('memory', () => createMemoryLotteryPayeeStore())
 * ```
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Address, Hex } from 'viem'
import { LotteryStoreDuplicateError, type LotteryPayeeStore, type LotteryStoreScope, type NewWinner, type StoredWinner } from './store.js'

const A = '0x00000000000000000000000000000000000000aa' as Address
const B = '0x00000000000000000000000000000000000000bb' as Address
const BROKER = '0x00000000000000000000000000000000000000cc' as Address
const S: LotteryStoreScope = { chainId: 31337, broker: BROKER }
const word = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex
const winner = (sender: Address, nonce: bigint, o: Partial<NewWinner> = {}): NewWinner => ({
  sender, nonce, face: 100n, winProb: 2n ** 255n, randHash: word(1), rand: 7n, expiration: 500n, sig: `0x${'ab'.repeat(65)}`, createdBlock: 10n, ...o,
})
const key = (w: { sender: string; nonce: bigint }) => `${w.sender}:${w.nonce}`
const keys = (ws: StoredWinner[]) => ws.map(key).sort()

/** Registers the suite for `name`; `make` gives a fresh, empty store for each test. */
export function runLotteryPayeeStoreCompliance(name: string, make: () => LotteryPayeeStore): void {
  describe(`LotteryPayeeStore compliance: ${name}`, () => {
    test('winners are stored pending with every field, ids distinct and increasing', () => {
      const s = make()
      const big = 2n ** 200n + 3n
      s.addWinners(S, [winner(A, 1n), winner(A, (5n << 128n) | 2n, { face: big, rand: big, expiration: big, createdBlock: 2n ** 70n })])
      const got = s.pendingWinners(S).sort((x, y) => x.id - y.id)
      assert.equal(got.length, 2)
      assert.ok(got[0]!.id < got[1]!.id)
      assert.deepEqual(got.map(({ id: _, ...w }) => w), [
        { ...winner(A, 1n), status: 'pending', tx: null, reason: null },
        { ...winner(A, (5n << 128n) | 2n, { face: big, rand: big, expiration: big, createdBlock: 2n ** 70n }), status: 'pending', tx: null, reason: null },
      ])
      assert.equal(s.countPending(S), 2)
      assert.deepEqual(s.pendingFaceBySender(S), new Map([[A, 100n + big]]))
      s.close()
    })

    test('a batch with a (sender, nonce) already stored is refused whole: nothing of it is stored', () => {
      const s = make()
      s.addWinners(S, [winner(A, 1n)])
      assert.throws(() => s.addWinners(S, [winner(A, 2n), winner(B, 3n), winner(A, 1n, { face: 5n })]), LotteryStoreDuplicateError)
      assert.deepEqual(keys(s.winners(S)), [key({ sender: A, nonce: 1n })])
      assert.equal(s.countPending(S), 1)
      assert.deepEqual(s.pendingFaceBySender(S), new Map([[A, 100n]]))
      // The refused ones can be stored afterwards.
      s.addWinners(S, [winner(A, 2n), winner(B, 3n)])
      assert.equal(s.countPending(S), 3)
      s.close()
    })

    test('a batch repeating a (sender, nonce) within itself is refused whole', () => {
      const s = make()
      assert.throws(() => s.addWinners(S, [winner(A, 1n), winner(B, 1n), winner(A, 1n)]), LotteryStoreDuplicateError)
      assert.deepEqual(s.winners(S), [])
      s.close()
    })

    test('a (sender, nonce) is unique per scope: the same one on another chain or broker is a different winner', () => {
      const s = make()
      const otherChain = { ...S, chainId: 1 }, otherBroker = { ...S, broker: B }
      s.addWinners(S, [winner(A, 1n)])
      s.addWinners(otherChain, [winner(A, 1n, { face: 7n })])
      s.addWinners(otherBroker, [winner(A, 1n, { face: 9n }), winner(A, 2n, { face: 9n })])
      assert.equal(s.countPending(S), 1)
      assert.equal(s.countPending(otherChain), 1)
      assert.equal(s.countPending(otherBroker), 2)
      assert.deepEqual(s.pendingFaceBySender(otherChain), new Map([[A, 7n]]))
      assert.deepEqual(s.pendingFaceBySender(otherBroker), new Map([[A, 18n]]))
      assert.deepEqual(s.pendingWinners(otherChain).map((w) => w.face), [7n])
      assert.equal(s.countPending({ chainId: 2, broker: BROKER }), 0)
      s.close()
    })

    test('an empty batch stores nothing', () => {
      const s = make()
      s.addWinners(S, [])
      assert.equal(s.countPending(S), 0)
      assert.deepEqual(s.pendingFaceBySender(S), new Map())
      s.close()
    })

    test('marking a winner redeemed, claim or lost records tx and reason and takes it out of pending', () => {
      const s = make()
      s.addWinners(S, [winner(A, 1n), winner(A, 2n, { face: 30n }), winner(B, 3n), winner(B, 4n)])
      const byNonce = new Map(s.pendingWinners(S).map((w) => [w.nonce, w.id]))
      s.mark(byNonce.get(1n)!, 'redeemed', '0x01', null)
      s.mark(byNonce.get(3n)!, 'lost', null, 'expired at block 5')
      assert.equal(s.countPending(S), 2)
      assert.deepEqual(keys(s.pendingWinners(S)), [key({ sender: A, nonce: 2n }), key({ sender: B, nonce: 4n })])
      assert.deepEqual(s.pendingFaceBySender(S), new Map([[A, 30n], [B, 100n]]))
      s.markAll([{ id: byNonce.get(2n)!, status: 'claim', tx: '0x02', reason: 'queued as a claim on the sender' }, { id: byNonce.get(4n)!, status: 'redeemed', tx: '0x02', reason: null }])
      assert.equal(s.countPending(S), 0)
      assert.deepEqual(s.pendingFaceBySender(S), new Map())
      const all = new Map(s.winners(S).map((w) => [w.nonce, { status: w.status, tx: w.tx, reason: w.reason }]))
      assert.deepEqual(all, new Map([
        [1n, { status: 'redeemed', tx: '0x01', reason: null }],
        [2n, { status: 'claim', tx: '0x02', reason: 'queued as a claim on the sender' }],
        [3n, { status: 'lost', tx: null, reason: 'expired at block 5' }],
        [4n, { status: 'redeemed', tx: '0x02', reason: null }],
      ]))
      // A settled winner is still unique: it cannot be stored again.
      assert.throws(() => s.addWinners(S, [winner(A, 1n)]), LotteryStoreDuplicateError)
      // An unknown id is ignored.
      s.mark(10_000, 'lost', null, 'x')
      s.markAll([{ id: 10_001, status: 'lost', tx: null, reason: 'x' }])
      assert.equal(s.winners(S).length, 4)
      s.close()
    })

    test('rows handed out are copies: changing one does not change the store', () => {
      const s = make()
      s.addWinners(S, [winner(A, 1n)])
      const [w] = s.pendingWinners(S)
      w!.face = 1n
      w!.status = 'lost'
      assert.equal(s.pendingWinners(S)[0]!.face, 100n)
      assert.equal(s.countPending(S), 1)
      s.close()
    })

    test('rands are stored active, in their scope, and retired one at a time or all at once', () => {
      const s = make()
      s.putRand(S, { hash: word(1), rand: 2n ** 250n, payer: A, createdAt: 1_000 })
      s.putRand(S, { hash: word(2), rand: 5n, payer: B, createdAt: 2_000 })
      s.putRand({ ...S, chainId: 1 }, { hash: word(3), rand: 6n, payer: A, createdAt: 3_000 })
      const sorted = (sc: LotteryStoreScope) => s.rands(sc).sort((x, y) => (x.hash < y.hash ? -1 : 1))
      assert.deepEqual(sorted(S), [
        { hash: word(1), rand: 2n ** 250n, payer: A, createdAt: 1_000, retired: false },
        { hash: word(2), rand: 5n, payer: B, createdAt: 2_000, retired: false },
      ])
      s.retireRand(word(2))
      s.retireRand(word(9)) // unknown: ignored
      assert.deepEqual(sorted(S).map((r) => r.retired), [false, true])
      assert.deepEqual(s.rands({ ...S, chainId: 1 }).map((r) => r.retired), [false])
      s.retireAll()
      assert.deepEqual(sorted(S).map((r) => r.retired), [true, true])
      assert.deepEqual(s.rands({ ...S, chainId: 1 }).map((r) => r.retired), [true])
      s.close()
    })

    test('a rand hash is stored once', () => {
      const s = make()
      s.putRand(S, { hash: word(1), rand: 1n, payer: A, createdAt: 0 })
      assert.throws(() => s.putRand(S, { hash: word(1), rand: 2n, payer: A, createdAt: 0 }))
      assert.deepEqual(s.rands(S).map((r) => r.rand), [1n])
      s.close()
    })
  })
}
