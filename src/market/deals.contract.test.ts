/**
 * The market's EIP-712 deals verified on chain by `contracts/MarketDeals.sol`: the contract's digest equals
 * `marketHash` for any deal (property), both signatures are checked, a deal is recorded once, an ended deal is
 * refused. Attacks: a deal signed by another key in the server's name, the buyer's signature in the server's slot,
 * a high-s twin, a replay of a recorded deal, a field changed after signing, a front-run by a third party (it only
 * records what both signed).
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Address, Hex } from 'viem'
import { MarketDealsAbi, MarketDealsBytecode } from '../../artifacts/contracts.js'
import { createChain } from '../chain/index.js'
import { deployContract } from '../chain/deploy.js'
import { ContractRevertError } from '../chain/errors.js'
import { write } from '../chain/tx.js'
import { SECP256K1_N } from '../crypto/index.js'
import { marketFixtures } from './fixtures.js'
import { LIMITS, USAGE_KEYS, perByteTime, perChunk, type DealBody, type PriceModel } from './schema.js'
import { marketDomain, marketHash, signDealBody } from './sign.js'

const chain = await createChain({ kind: 'embedded', accounts: 4, seed: 'market-deals' })
after(() => chain.close())
const [deployer, stranger] = chain.devKeys
const contract = await deployContract(chain, deployer, MarketDealsAbi, MarketDealsBytecode, [])
const domain = marketDomain(chain.chainId, contract)
const f = marketFixtures({ seed: 'deals-contract' })
const S = f.party('server'), B = f.party('buyer'), M = f.party('mallory')
const nowMs = async () => Number((await chain.public.getBlock()).timestamp) * 1000

const tuple = (d: DealBody) => ({
  service: d.service, offer: d.offer, ask: d.ask, server: d.server, buyer: d.buyer,
  price: { kind: d.price.kind, base: d.price.base, rates: d.price.rates.map((r) => ({ usage: r.usage, price: r.price, per: r.per })) },
  usage: { chunks: d.usage.chunks ?? 0n, bytes_: d.usage.bytes ?? 0n, byteSeconds: d.usage.byteSeconds ?? 0n, units: d.usage.units ?? 0n, seconds_: d.usage.seconds ?? 0n },
  collateral: d.collateral, scheme: d.scheme, startsAt: BigInt(d.startsAt), endsAt: BigInt(d.endsAt), nonce: d.nonce,
})
const h32 = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex
async function deal(over: Partial<DealBody> = {}): Promise<DealBody> {
  const now = await nowMs()
  return {
    type: 'deal', service: 'storage', offer: h32(1), ask: h32(2), server: S.address, buyer: B.address,
    price: perByteTime(5n, 1n << 30n, 2_592_000n), usage: { byteSeconds: (1n << 30n) * 86_400n }, collateral: 10n ** 18n,
    scheme: 'lottery', startsAt: now, endsAt: now + 86_400_000, nonce: 7n, ...over,
  }
}
const hashOnChain = (d: DealBody) => chain.public.readContract({ address: contract, abi: MarketDealsAbi, functionName: 'hashDeal', args: [tuple(d)] })
const record = (d: DealBody, serverSig: Hex, buyerSig: Hex, key: Hex = stranger) => write(chain, chain.wallet(key), { address: contract, abi: MarketDealsAbi, functionName: 'recordDeal', args: [tuple(d), serverSig, buyerSig] })
async function reverts(p: Promise<unknown>, name: string, side?: string) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ContractRevertError, String(e))
    assert.equal(e.errorName, name)
    if (side) assert.equal(e.args[1], side)
    return true
  })
}

test('the contract\'s digest is marketHash for the Souk Market domain verified by the contract', async () => {
  const d = await deal()
  assert.equal(await hashOnChain(d), marketHash(domain, d))
  // Any other domain gives another digest: a deal signed off chain for chain id 1, or for no contract, does not verify here.
  assert.notEqual(marketHash(marketDomain(chain.chainId), d), marketHash(domain, d))
  const rates: PriceModel = { kind: 'linear', base: 3n, rates: [{ usage: 'chunks', price: 2n, per: 1n }, { usage: 'seconds', price: 9n, per: 60n }, { usage: 'units', price: 1n, per: 7n }] }
  const linear = await deal({ price: rates, usage: { chunks: 5n, seconds: 120n, units: 3n }, service: 'compute' })
  assert.equal(await hashOnChain(linear), marketHash(domain, linear))
  const empty = await deal({ price: { kind: 'linear', base: 0n, rates: [] }, usage: {}, service: 'cdn', scheme: 'channel' })
  assert.equal(await hashOnChain(empty), marketHash(domain, empty))
})

test('property: for random deals the contract and marketHash agree', async () => {
  const amount = fc.bigInt({ min: 0n, max: LIMITS.maxAmount })
  const rate = fc.record({ usage: fc.constantFrom(...USAGE_KEYS), price: amount, per: fc.bigInt({ min: 1n, max: LIMITS.maxAmount }) })
  await fc.assert(fc.asyncProperty(
    fc.record({
      service: fc.constantFrom('cdn', 'storage', 'compute', 'x-y-z'), base: amount, rates: fc.uniqueArray(rate, { maxLength: 5, selector: (r) => r.usage }),
      usage: fc.record({ chunks: amount, bytes: amount, units: amount }, { requiredKeys: [] }), collateral: amount, nonce: amount,
      startsAt: fc.integer({ min: 0, max: 2 ** 50 }), len: fc.integer({ min: 1, max: 2 ** 40 }),
    }),
    async (x) => {
      const d = await deal({ service: x.service, price: { kind: 'linear', base: x.base, rates: x.rates }, usage: x.usage, collateral: x.collateral, nonce: x.nonce, startsAt: x.startsAt, endsAt: x.startsAt + x.len })
      assert.equal(await hashOnChain(d), marketHash(domain, d))
    },
  ), { numRuns: 40 })
})

test('a deal both sides signed is recorded once, by anyone; the event names it', async () => {
  const d = await deal({ nonce: 100n })
  const ss = signDealBody(d, S.key, domain), bs = signDealBody(d, B.key, domain)
  const r = await record(d, ss, bs)
  assert.equal(r.status, 'success')
  assert.ok(r.gasUsed < 80_000n, `recordDeal cost ${r.gasUsed} gas`)
  const digest = marketHash(domain, d)
  assert.equal(await chain.public.readContract({ address: contract, abi: MarketDealsAbi, functionName: 'recorded', args: [digest] }), true)
  const logs = await chain.public.getContractEvents({ address: contract, abi: MarketDealsAbi, eventName: 'DealRecorded', args: { digest } })
  assert.equal(logs.length, 1)
  assert.deepEqual([(logs[0].args.server as Address).toLowerCase(), (logs[0].args.buyer as Address).toLowerCase(), logs[0].args.service], [S.address, B.address, 'storage'])
  // A replay of the same deal (by the buyer, the server or a third party) is refused.
  await reverts(record(d, ss, bs), 'MarketDealsAlreadyRecorded')
  await reverts(record(d, ss, bs, deployer), 'MarketDealsAlreadyRecorded')
})

test('signatures: forged, swapped, high-s, over other terms, for another contract: each refused with the side it fails', async () => {
  const d = await deal({ nonce: 200n })
  const ss = signDealBody(d, S.key, domain), bs = signDealBody(d, B.key, domain)
  await reverts(record(d, signDealBody(d, M.key, domain), bs), 'MarketDealsBadSignature', 'server')
  await reverts(record(d, ss, signDealBody(d, M.key, domain)), 'MarketDealsBadSignature', 'buyer')
  await reverts(record(d, bs, ss), 'MarketDealsBadSignature', 'server')
  // The high-s twin of a valid signature (valid ECDSA, refused: only canonical low-s signatures verify).
  const s = SECP256K1_N - BigInt(`0x${ss.slice(66, 130)}`)
  const twin = `${ss.slice(0, 66)}${s.toString(16).padStart(64, '0')}${ss.endsWith('1b') ? '1c' : '1b'}` as Hex
  await reverts(record(d, twin, bs), 'MarketDealsBadSignature', 'server')
  // A field changed after signing (a cheaper price for the buyer) breaks both signatures.
  await reverts(record({ ...d, price: perChunk(1n) }, ss, bs), 'MarketDealsBadSignature', 'server')
  // Signed for the off-chain domain (no verifying contract): not valid here.
  const offChain = marketDomain(chain.chainId)
  await reverts(record(d, signDealBody(d, S.key, offChain), signDealBody(d, B.key, offChain)), 'MarketDealsBadSignature', 'server')
  await reverts(record(d, '0x1234', bs), 'MarketDealsBadSignature', 'server')
  assert.equal((await record(d, ss, bs)).status, 'success')
})

test('a deal that has ended is refused', async () => {
  const now = await nowMs()
  const d = await deal({ nonce: 300n, startsAt: now - 10_000, endsAt: now - 1 })
  await reverts(record(d, signDealBody(d, S.key, domain), signDealBody(d, B.key, domain)), 'MarketDealsEnded')
})
