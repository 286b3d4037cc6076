/**
 * The compliance suites every `MicrocashServerStore` and `SequenceStore` must pass (run from store.test.ts against
 * the SQLite and the memory stores). They pin what the server and the sponsor rely on: tickets are stored all or
 * none and unique by (lottery, escrow, round, seq), a collision names the first colliding ticket and the stored one;
 * a draw turns winners `won` and deletes losers at once; `won` comes back in redemption order (escrow id as a decimal
 * string, round, seq); statuses take tickets out of `won`; losses and evidence are kept per lottery with their
 * fields; a sequence reservation never hands out a number twice and stops at the round's limit.
 *
 * @example
 * ```ts
 * import { runMicrocashServerStoreCompliance } from './store.compliance.js'
 * runMicrocashServerStoreCompliance('memory', () => createMemoryMicrocashServerStore())
 * ```
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Address, Hex } from 'viem'
import type { SignedTicket } from './contract.js'
import type { MicrocashServerStore, SequenceStore, StoredMicroTicket } from './store.js'

const LOT = '0x00000000000000000000000000000000000000Cc' as Address
const OTHER = '0x00000000000000000000000000000000000000dd' as Address
const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex
const t = (round: number, seq: number, o: Partial<StoredMicroTicket> = {}): StoredMicroTicket => ({ round, seq, salt: h(seq + 1), batch: true, proof: [h(100 + seq), h(200 + seq)], sig: `0x${'ab'.repeat(65)}`, ...o })
const pairs = (xs: { round: number; seq: number }[]) => xs.map((x) => `${x.round}:${x.seq}`).sort()

/** Registers the suite for `name`; `make` gives a fresh, empty store for each test. */
export function runMicrocashServerStoreCompliance(name: string, make: () => MicrocashServerStore): void {
  describe(`MicrocashServerStore compliance: ${name}`, () => {
    test('tickets are stored pending with every field; rounds are grouped with their counts', () => {
      const s = make()
      assert.deepEqual(s.addTickets(LOT, 7n, [t(1, 0), t(1, 3, { batch: false, proof: [] }), t(2, 0)]), {})
      assert.deepEqual(s.pendingRounds(LOT).sort((a, b) => a.round - b.round), [{ escrowId: 7n, round: 1, count: 2 }, { escrowId: 7n, round: 2, count: 1 }])
      assert.deepEqual(s.pendingSeqs(LOT, 7n, 1).sort(), [0, 3])
      s.recordDraw(LOT, 7n, 1, [{ seq: 0, rank: 0 }, { seq: 3, rank: 1 }], [])
      assert.deepEqual(s.won(LOT), [{ escrowId: 7n, ...t(1, 0) }, { escrowId: 7n, ...t(1, 3, { batch: false, proof: [] }) }])
      s.close()
    })

    test('a batch with a stored (round, seq) stores nothing and names the first collision and the stored ticket', () => {
      const s = make()
      s.addTickets(LOT, 7n, [t(1, 5)])
      const again = t(1, 5, { salt: h(999) })
      assert.deepEqual(s.addTickets(LOT, 7n, [t(1, 1), again, t(1, 2)]), { conflict: { ticket: again, old: t(1, 5) } })
      assert.deepEqual(s.pendingSeqs(LOT, 7n, 1), [5])
      // A repeat within one batch is a collision with the earlier ticket of the batch, and nothing is stored.
      const first = t(1, 8), second = t(1, 8, { salt: h(77) })
      assert.deepEqual(s.addTickets(LOT, 7n, [t(1, 6), first, second]), { conflict: { ticket: second, old: first } })
      assert.deepEqual(s.pendingSeqs(LOT, 7n, 1), [5])
      s.close()
    })

    test('(round, seq) is unique per lottery and escrow only', () => {
      const s = make()
      assert.deepEqual(s.addTickets(LOT, 7n, [t(1, 5)]), {})
      assert.deepEqual(s.addTickets(LOT, 8n, [t(1, 5)]), {})
      assert.deepEqual(s.addTickets(OTHER, 7n, [t(1, 5)]), {})
      assert.equal(s.pendingRounds(LOT).length, 2)
      assert.deepEqual(s.pendingRounds(OTHER), [{ escrowId: 7n, round: 1, count: 1 }])
      s.close()
    })

    test('the lottery address is matched case-insensitively', () => {
      const s = make()
      s.addTickets(LOT, 7n, [t(1, 5)])
      assert.deepEqual(s.pendingSeqs(LOT.toLowerCase() as Address, 7n, 1), [5])
      assert.ok(s.addTickets(LOT.toUpperCase().replace('0X', '0x') as Address, 7n, [t(1, 5)]).conflict)
      s.close()
    })

    test('a draw makes winners won and deletes losers: a deleted number can be stored again', () => {
      const s = make()
      s.addTickets(LOT, 7n, [t(1, 0), t(1, 1), t(1, 2)])
      s.recordDraw(LOT, 7n, 1, [{ seq: 2, rank: 0 }], [0, 1])
      assert.deepEqual(s.pendingRounds(LOT), [])
      assert.deepEqual(s.pendingSeqs(LOT, 7n, 1), [])
      assert.deepEqual(pairs(s.won(LOT)), ['1:2'])
      assert.deepEqual(s.addTickets(LOT, 7n, [t(1, 0)]), {})
      assert.ok(s.addTickets(LOT, 7n, [t(1, 2)]).conflict, 'a winner stays stored')
      s.close()
    })

    test('won comes back by escrow id as a decimal string, then round, then seq', () => {
      const s = make()
      s.addTickets(LOT, 9n, [t(2, 1), t(1, 4)])
      s.addTickets(LOT, 10n, [t(1, 3), t(1, 0)])
      s.recordDraw(LOT, 9n, 2, [{ seq: 1, rank: 0 }], [])
      s.recordDraw(LOT, 9n, 1, [{ seq: 4, rank: 0 }], [])
      s.recordDraw(LOT, 10n, 1, [{ seq: 3, rank: 0 }, { seq: 0, rank: 1 }], [])
      assert.deepEqual(s.won(LOT).map((w) => `${w.escrowId}/${w.round}/${w.seq}`), ['10/1/0', '10/1/3', '9/1/4', '9/2/1'])
      s.close()
    })

    test('a status other than won takes a ticket out of won; losses set a status or leave it', () => {
      const s = make()
      s.addTickets(LOT, 7n, [t(1, 0), t(1, 1), t(1, 2), t(1, 3)])
      s.recordDraw(LOT, 7n, 1, [0, 1, 2, 3].map((seq) => ({ seq, rank: seq })), [])
      s.setStatus(LOT, 7n, [{ round: 1, seq: 0 }, { round: 1, seq: 1 }], 'redeemed')
      s.setStatus(LOT, 7n, [{ round: 9, seq: 9 }], 'redeemed') // unknown: ignored
      s.addLoss(LOT, { escrowId: 7n, round: 1, seq: 2, reason: 'expired', value: 5n, detail: 'expiry block 10' }, 'stolen')
      s.addLoss(LOT, { escrowId: 7n, round: 1, seq: 3, reason: 'pool-exhausted', value: 2n ** 100n })
      assert.deepEqual(pairs(s.won(LOT)), ['1:3'])
      assert.deepEqual(s.losses(LOT), [
        { escrowId: 7n, round: 1, seq: 2, reason: 'expired', value: 5n, detail: 'expiry block 10' },
        { escrowId: 7n, round: 1, seq: 3, reason: 'pool-exhausted', value: 2n ** 100n },
      ])
      assert.deepEqual(s.losses(OTHER), [])
      s.close()
    })

    test('evidence keeps both tickets (bigint escrow ids) and is marked proven by its number', () => {
      const s = make()
      const a: SignedTicket = { escrowId: 7n, server: OTHER, round: 1, seq: 2, salt: h(1), batch: true, proof: [h(2)], sig: `0x${'ab'.repeat(65)}` }
      const b: SignedTicket = { ...a, salt: h(3) }
      s.addEvidence(LOT, { escrowId: 7n, round: 1, seq: 2, kind: 'reused', a, b })
      s.addEvidence(LOT, { escrowId: 7n, round: 1, seq: 4, kind: 'duplicate', a: { ...a, seq: 4 }, b: null })
      s.markProven(LOT, 7n, 1, 4)
      assert.deepEqual(s.evidence(LOT), [
        { escrowId: 7n, round: 1, seq: 2, kind: 'reused', a, b, proven: false },
        { escrowId: 7n, round: 1, seq: 4, kind: 'duplicate', a: { ...a, seq: 4 }, b: null, proven: true },
      ])
      assert.deepEqual(s.evidence(OTHER), [])
      s.close()
    })
  })
}

/** Registers the `SequenceStore` suite for `name`; `make` gives a fresh, empty store for each test. */
export function runSequenceStoreCompliance(name: string, make: () => SequenceStore): void {
  describe(`SequenceStore compliance: ${name}`, () => {
    test('reservations of one (escrow, round) follow each other and stop at the limit', () => {
      const s = make()
      assert.deepEqual(s.reserve(1n, 0, 4, 10), [0, 4])
      assert.deepEqual(s.reserve(1n, 0, 4, 10), [4, 8])
      assert.deepEqual(s.reserve(1n, 0, 4, 10), [8, 10])
      assert.deepEqual(s.reserve(1n, 0, 4, 10), [10, 10], 'none left: an empty range')
    })

    test('each (escrow, round) has its own numbers', () => {
      const s = make()
      assert.deepEqual(s.reserve(1n, 0, 3, 100), [0, 3])
      assert.deepEqual(s.reserve(1n, 1, 3, 100), [0, 3])
      assert.deepEqual(s.reserve(2n, 0, 3, 100), [0, 3])
      assert.deepEqual(s.reserve(1n, 0, 3, 100), [3, 6])
    })
  })
}
