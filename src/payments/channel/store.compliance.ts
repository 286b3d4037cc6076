/**
 * The compliance suite every `ChannelVoucherStore` must pass (run from store.test.ts against the SQLite and the
 * memory store). It pins what the channel payee relies on: a new channel is stored whole and open; an upsert of a
 * known channel changes its voucher only; collected and closed are set by id and ignore unknown ids; `all` returns
 * copies; nothing depends on the order `all` returns.
 *
 * @example
 * ```ts
 * import { runChannelVoucherStoreCompliance } from './store.compliance.js'
 * runChannelVoucherStoreCompliance('memory', () => createMemoryChannelVoucherStore())
 * ```
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Address, Hex } from 'viem'
import type { ChannelVoucherRecord, ChannelVoucherStore } from './store.js'

const id = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex
const SENDER = '0x00000000000000000000000000000000000000aa' as Address
const sig = (n: number) => `0x${n.toString(16).padStart(130, '0')}` as Hex
const byId = (rs: ChannelVoucherRecord[]) => [...rs].sort((a, b) => (a.channelId < b.channelId ? -1 : 1))

/** Registers the suite for `name`; `make` gives a fresh, empty store for each test. */
export function runChannelVoucherStoreCompliance(name: string, make: () => ChannelVoucherStore): void {
  describe(`ChannelVoucherStore compliance: ${name}`, () => {
    test('a new channel is stored whole and open', () => {
      const s = make()
      assert.deepEqual(s.all(), [])
      s.upsert({ channelId: id(1), sender: SENDER, cumulative: 5n, sig: sig(1), collected: 2n, fromBlock: 7n })
      assert.deepEqual(s.all(), [{ channelId: id(1), sender: SENDER, cumulative: 5n, sig: sig(1), collected: 2n, closed: false, fromBlock: 7n }])
      s.close()
    })

    test('an upsert of a known channel changes its voucher only (sender, collected, closed and fromBlock stay)', () => {
      const s = make()
      s.upsert({ channelId: id(1), sender: SENDER, cumulative: 5n, sig: sig(1), collected: 2n, fromBlock: 7n })
      s.markCollected(id(1), 4n)
      s.upsert({ channelId: id(1), sender: '0x00000000000000000000000000000000000000bb', cumulative: 9n, sig: sig(2), collected: 0n, fromBlock: 99n })
      assert.deepEqual(s.all(), [{ channelId: id(1), sender: SENDER, cumulative: 9n, sig: sig(2), collected: 4n, closed: false, fromBlock: 7n }])
      s.markClosed(id(1), 9n)
      s.upsert({ channelId: id(1), sender: SENDER, cumulative: 11n, sig: sig(3), collected: 0n, fromBlock: 0n })
      assert.deepEqual(s.all(), [{ channelId: id(1), sender: SENDER, cumulative: 11n, sig: sig(3), collected: 9n, closed: true, fromBlock: 7n }])
      s.close()
    })

    test('markCollected and markClosed touch their channel only and ignore an unknown id', () => {
      const s = make()
      s.upsert({ channelId: id(1), sender: SENDER, cumulative: 5n, sig: sig(1), collected: 0n, fromBlock: 1n })
      s.upsert({ channelId: id(2), sender: SENDER, cumulative: 6n, sig: sig(2), collected: 0n, fromBlock: 2n })
      s.markCollected(id(2), 3n)
      s.markClosed(id(1), 5n)
      s.markCollected(id(3), 1n)
      s.markClosed(id(4), 1n)
      assert.deepEqual(byId(s.all()), [
        { channelId: id(1), sender: SENDER, cumulative: 5n, sig: sig(1), collected: 5n, closed: true, fromBlock: 1n },
        { channelId: id(2), sender: SENDER, cumulative: 6n, sig: sig(2), collected: 3n, closed: false, fromBlock: 2n },
      ])
      s.close()
    })

    test('values beyond 64 bits round-trip exactly', () => {
      const s = make()
      const big = 2n ** 200n + 1n
      s.upsert({ channelId: id(1), sender: SENDER, cumulative: big, sig: sig(1), collected: big - 1n, fromBlock: 2n ** 70n })
      s.markCollected(id(1), big)
      assert.deepEqual(s.all()[0], { channelId: id(1), sender: SENDER, cumulative: big, sig: sig(1), collected: big, closed: false, fromBlock: 2n ** 70n })
      s.close()
    })

    test('all() returns copies: changing one does not change the store', () => {
      const s = make()
      s.upsert({ channelId: id(1), sender: SENDER, cumulative: 5n, sig: sig(1), collected: 0n, fromBlock: 1n })
      const [r] = s.all()
      r!.cumulative = 100n
      r!.closed = true
      assert.equal(s.all()[0]!.cumulative, 5n)
      assert.equal(s.all()[0]!.closed, false)
      s.close()
    })
  })
}
