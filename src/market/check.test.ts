/**
 * The market's schema family, its EIP-712 hashes and the checker at the trust boundary: every refusal with its
 * reason, and the attacks a peer can try (a forged signer, a replayed or lower sequence number, a forged message
 * with a huge sequence number to burn the real signer's, a deal whose terms differ from what was offered or asked).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { hashTypedData } from 'viem'
import { manualClock } from '../core/clock.js'
import { createMarketChecker, unmet } from './check.js'
import { MarketRejectedError } from './errors.js'
import { marketFixtures } from './fixtures.js'
import { AskSchema, LIMITS, OfferSchema, PriceModelSchema, fits, perByteTime, perChunk, perUnit, priceOf, type DealBody } from './schema.js'
import { MARKET_TYPES, marketDomain, marketHash, recoverSigner, signDealBody, signOffer } from './sign.js'

const f = marketFixtures({ seed: 'check-test', now: 5_000_000 })
const S = f.party('server'), B = f.party('buyer'), M = f.party('mallory')
const checker = (over: { service?: string } = {}) => createMarketChecker({ domain: f.domain, clock: manualClock(f.now), ...over })

function rejects(fn: () => unknown, reason: string, msg?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MarketRejectedError, String(e))
    assert.equal(e.reason, reason, e.message)
    if (msg) assert.match(e.message, msg)
    return true
  })
}

test('price models: ceil(price × usage / per) per rate plus the base; each kind has its one rate', () => {
  assert.equal(priceOf(perChunk(7n), { chunks: 3n }), 21n)
  assert.equal(priceOf(perChunk(7n), {}), 0n)
  const gibMonth = perByteTime(5n, 1n << 30n, 2_592_000n)
  assert.equal(priceOf(gibMonth, { byteSeconds: (1n << 30n) * 2_592_000n }), 5n)
  assert.equal(priceOf(gibMonth, { byteSeconds: 1n }), 1n) // rounded up: a sliver is never free
  assert.equal(priceOf({ kind: 'linear', base: 10n, rates: [{ usage: 'units', price: 3n, per: 2n }, { usage: 'seconds', price: 1n, per: 1n }] }, { units: 5n, seconds: 4n }), 10n + 8n + 4n)
  assert.equal(priceOf(perUnit(9n), { units: 2n, chunks: 100n }), 18n) // usage it does not price is free
  const ok = (m: unknown) => assert.equal(PriceModelSchema.safeParse(m).success, true, JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? `${v}` : v)))
  const bad = (m: unknown) => assert.equal(PriceModelSchema.safeParse(m).success, false, JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? `${v}` : v)))
  ok(perChunk(0n)); ok(gibMonth); ok(perUnit(1n))
  bad({ kind: 'per-chunk', base: 0n, rates: [{ usage: 'units', price: 1n, per: 1n }] })
  bad({ kind: 'per-unit', base: 0n, rates: [] })
  bad({ kind: 'linear', base: 0n, rates: [{ usage: 'units', price: 1n, per: 1n }, { usage: 'units', price: 2n, per: 1n }] })
  bad({ kind: 'linear', base: 0n, rates: [{ usage: 'units', price: 1n, per: 0n }] })
  bad({ kind: 'linear', base: -1n, rates: [] })
  bad({ kind: 'linear', base: LIMITS.maxAmount + 1n, rates: [] })
})

test('fits: every component of the need within the capacity', () => {
  const cap = { bytes: 10, bandwidthBps: 10, durationSec: 10, computeUnits: 10 }
  assert.equal(fits(cap, cap), true)
  for (const k of ['bytes', 'bandwidthBps', 'durationSec', 'computeUnits'] as const) assert.equal(fits({ ...cap, [k]: 11 }, cap), false, k)
})

test('marketHash is the EIP-712 digest of the Souk Market domain; any field changes it; signatures recover the signer', () => {
  const body = f.offerBody(S)
  const o = signOffer(body, S.key, f.domain)
  const { type: _t, sig: _s, ...msg } = o
  assert.equal(marketHash(f.domain, o), hashTypedData({ domain: { name: 'Souk Market', version: '1', chainId: 31337, verifyingContract: '0x0000000000000000000000000000000000000000' }, types: MARKET_TYPES, primaryType: 'Offer', message: msg as never }))
  assert.notEqual(marketHash(marketDomain(1), o), marketHash(f.domain, o))
  for (const change of [{ seq: o.seq + 1n }, { collateral: 1n }, { region: 'us-east' }, { price: perChunk(101n) }, { schemes: ['channel'] }, { resources: { ...o.resources, bytes: 1 } }]) {
    assert.notEqual(marketHash(f.domain, { ...o, ...change }), marketHash(f.domain, o), JSON.stringify(Object.keys(change)))
  }
  const r = recoverSigner(f.domain, o)
  assert.ok(r.ok)
  assert.equal(r.address.toLowerCase(), S.address)
  // An ask hashes its usage with every key (missing ones as 0): {} and { chunks: 0n } are the same usage.
  const a = f.askBody(B, { usage: { chunks: 0n }, seq: 9n })
  assert.equal(marketHash(f.domain, a), marketHash(f.domain, { ...a, usage: {} }))
})

test('the checker accepts a valid offer and ask and refuses each bad one with its reason', () => {
  const c = checker({ service: 'cdn' })
  const o = f.offer(S)
  assert.deepEqual(c.offer(o), OfferSchema.parse(o))
  const a = f.ask(B)
  assert.deepEqual(c.ask(a), AskSchema.parse(a))
  rejects(() => c.offer({ ...f.offer(S), collateral: -1n }), 'malformed', /collateral/)
  rejects(() => c.offer({ ...f.offer(S), sig: '0x12' }), 'malformed', /sig/)
  rejects(() => c.offer(null), 'malformed')
  rejects(() => c.offer(f.offer(S, { service: 'storage' })), 'wrong-service', /storage, not cdn/)
  rejects(() => c.offer(f.offer(S, { expiresAt: f.now })), 'expired', new RegExp(`expired at ${f.now}`))
  rejects(() => c.offer(f.offer(S, { expiresAt: f.now + LIMITS.maxLifetimeMs + 1 })), 'absurd')
  assert.ok(c.offer(f.offer(S, { expiresAt: f.now + LIMITS.maxLifetimeMs })))
  // Signed by someone other than the server it names; a flipped bit; a high-s twin.
  rejects(() => c.offer(signOffer(f.offerBody(S), M.key, f.domain)), 'bad-signature', new RegExp(`not by ${S.address}`, 'i'))
  const good = f.offer(S)
  const flipped = (good.sig.slice(0, 10) + (good.sig[10] === '0' ? '1' : '0') + good.sig.slice(11)) as typeof good.sig
  rejects(() => c.offer({ ...good, sig: flipped }), 'bad-signature')
  rejects(() => c.offer({ ...good, price: perChunk(1n) }), 'bad-signature') // a changed field breaks the signature
  rejects(() => c.ask({ ...f.ask(B), maxPrice: 10n ** 9n }), 'bad-signature')
})

test('sequence numbers: strictly increasing per signer, service and type; a forged message burns nothing', () => {
  const c = checker()
  c.offer(f.offer(S, { seq: 5n }))
  rejects(() => c.offer(f.offer(S, { seq: 5n })), 'replayed', /5 is not above 5/)
  rejects(() => c.offer(f.offer(S, { seq: 4n })), 'replayed')
  c.offer(f.offer(S, { seq: 6n }))
  c.offer(f.offer(S, { seq: 1n, service: 'storage' })) // another service: its own numbers
  c.ask(f.ask(S, { seq: 1n })) // another type: its own numbers
  c.offer(f.offer(B, { seq: 1n })) // another signer
  // Mallory forges S's offer with a huge number: refused, and S's next real offer still goes through.
  rejects(() => c.offer(signOffer(f.offerBody(S, { seq: LIMITS.maxAmount }), M.key, f.domain)), 'bad-signature')
  c.offer(f.offer(S, { seq: 7n }))
  // An expired offer with a high number does not burn numbers either.
  rejects(() => c.offer(f.offer(S, { seq: 100n, expiresAt: 1 })), 'expired')
  c.offer(f.offer(S, { seq: 8n }))
  // The memory is bounded: the oldest signer is forgotten first.
  const small = createMarketChecker({ domain: f.domain, clock: manualClock(f.now), maxSigners: 2 })
  small.offer(f.offer(S, { seq: 1n })); small.offer(f.offer(B, { seq: 1n })); small.offer(f.offer(M, { seq: 1n }))
  small.offer(f.offer(S, { seq: 1n })) // forgotten: accepted again (which is why offers expire)
  rejects(() => small.offer(f.offer(M, { seq: 1n })), 'replayed')
})

test('unmet: each constraint of the ask, the price cap included', () => {
  const a = f.ask(B, { regions: ['eu-west'], maxLatencyMs: 50, capabilities: ['h264'], minCollateral: 5n, maxPrice: 10_000n })
  const o = f.offer(S, { collateral: 5n, capabilities: ['h264', 'vp9'] })
  assert.equal(unmet(a, o), undefined)
  assert.match(unmet(a, f.offer(S, { service: 'storage', collateral: 5n, capabilities: ['h264'] }))!, /service/)
  assert.match(unmet(a, f.offer(S, { collateral: 4n, capabilities: ['h264'] }))!, /collateral 4 < 5/)
  assert.match(unmet(a, f.offer(S, { collateral: 5n, capabilities: ['h264'], schemes: ['channel'] }))!, /no common payment scheme/)
  assert.match(unmet(a, f.offer(S, { collateral: 5n, capabilities: ['h264'], region: 'us-east' }))!, /region us-east/)
  assert.match(unmet(a, f.offer(S, { collateral: 5n, capabilities: ['h264'], latencyMs: 51 }))!, /latency 51/)
  assert.match(unmet(a, f.offer(S, { collateral: 5n, capabilities: ['vp9'] }))!, /lacks capability h264/)
  assert.match(unmet(a, f.offer(S, { collateral: 5n, capabilities: ['h264'], resources: { ...o.resources, bytes: 1 } }))!, /resources/)
  assert.match(unmet(a, f.offer(S, { collateral: 5n, capabilities: ['h264'], price: perChunk(101n) }))!, /price 10100 > cap 10000/)
  assert.equal(unmet({ ...a, regions: [], maxLatencyMs: 0 }, f.offer(S, { collateral: 5n, capabilities: ['h264'], region: 'ap-south', latencyMs: 900 })), undefined)
})

test('deals: terms must be the offer\'s and the ask\'s, both signatures the parties\'', () => {
  const c = checker()
  const offer = f.offer(S, { collateral: 3n }), ask = f.ask(B, { minCollateral: 2n, maxPrice: 9_000n })
  const body: DealBody = {
    type: 'deal', service: 'cdn', offer: marketHash(f.domain, offer), ask: marketHash(f.domain, ask), server: S.address, buyer: B.address,
    price: perChunk(90n), usage: ask.usage, collateral: 3n, scheme: 'lottery', startsAt: f.now, endsAt: f.now + 3_600_000, nonce: 42n,
  }
  const sign = (b: DealBody, sk = S.key, bk = B.key) => ({ ...b, serverSig: signDealBody(b, sk, f.domain), buyerSig: signDealBody(b, bk, f.domain) })
  const from = { offer, ask }
  assert.equal(c.deal(sign(body), from).nonce, 42n)
  assert.equal(c.dealTerms(body, from).nonce, 42n)
  rejects(() => c.deal(sign({ ...body, price: perChunk(91n) }), from), 'price-above-cap', /9100 is above the ask's cap 9000/)
  rejects(() => c.deal(sign({ ...body, offer: marketHash(f.domain, f.offer(S)) }), from), 'terms-mismatch', /another offer/)
  rejects(() => c.deal(sign({ ...body, ask: marketHash(f.domain, f.ask(B)) }), from), 'terms-mismatch', /another ask/)
  rejects(() => c.deal(sign({ ...body, buyer: M.address }, S.key, M.key), from), 'terms-mismatch', /other parties/)
  rejects(() => c.deal(sign({ ...body, scheme: 'channel' }), from), 'terms-mismatch', /scheme channel/)
  rejects(() => c.deal(sign({ ...body, collateral: 1n }), from), 'terms-mismatch', /collateral 1/)
  rejects(() => c.deal(sign({ ...body, usage: { chunks: 101n } }), from), 'terms-mismatch', /usage/)
  rejects(() => c.deal(sign({ ...body, endsAt: f.now }), from), 'expired')
  rejects(() => c.deal(sign({ ...body, startsAt: body.endsAt }), from), 'absurd')
  rejects(() => c.deal(sign({ ...body, endsAt: f.now + LIMITS.maxLifetimeMs + 1 }), from), 'absurd')
  // A signature by the wrong key, on either side, or a signature over other terms.
  rejects(() => c.deal(sign(body, M.key), from), 'bad-signature', /server signature is by/)
  rejects(() => c.deal(sign(body, S.key, M.key), from), 'bad-signature', /buyer signature is by/)
  rejects(() => c.deal({ ...sign(body), nonce: 43n }, from), 'bad-signature')
  rejects(() => c.dealSignature(body, signDealBody({ ...body, nonce: 1n }, S.key, f.domain), 'server'), 'bad-signature')
})

test('property: an offer or ask survives signing and checking unchanged; any other signer is refused', () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: LIMITS.maxAmount }), fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom('eu-west', 'us-east', 'a.b/c:d'), (price, bytes, region) => {
    const c = checker()
    const body = f.offerBody(S, { price: perChunk(price), resources: { bytes, bandwidthBps: 0, durationSec: 0, computeUnits: 0 }, region })
    const o = signOffer(body, S.key, f.domain)
    assert.deepEqual(c.offer(o), o)
    rejects(() => checker().offer(signOffer(body, M.key, f.domain)), 'bad-signature')
  }), { numRuns: 50 })
})
