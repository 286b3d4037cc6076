/**
 * The CDN publisher recruits its caches through the market module: signed offers, the checker, a negotiated deal
 * both sign, a hire at the deal's price. Attackers: an offer signed in another cache's name, another cache's offer
 * replayed by a third party, an expired or malformed offer, a cache priced above what the publisher pays.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Hex } from 'viem'
import { createChain } from '../../chain/index.js'
import { systemClock } from '../../core/clock.js'
import { openDatabase } from '../../core/db.js'
import { memoryLogger } from '../../core/logger.js'
import { forkRng, seededRng } from '../../crypto/rng.js'
import { createMemoryNetwork, readMessage, sendMessage, type Transport } from '../../net/index.js'
import { deploySouk } from '../../payments/deploy.js'
import { perChunk, type OfferBody } from '../../market/schema.js'
import { keySigner, marketDomain, signOffer } from '../../market/sign.js'
import type { RoleComponents, ServiceEvent } from '../market.js'
import { CdnConfigSchema, cdnMarket, type CdnConfig } from './market.js'
import { CDN_JOIN, joinCodec, joinReplyCodec } from './protocol.js'

const chain = await createChain({ kind: 'embedded', accounts: 12, seed: 'cdn-recruit' })
after(() => chain.close())
const deployment = await deploySouk(chain, chain.devKeys[0])
const clock = systemClock()
const rng = seededRng('cdn-recruit')
const net = createMemoryNetwork()
const logger = memoryLogger()
const events: (ServiceEvent & { name: string })[] = []
const domain = marketDomain(chain.chainId)

const components = (name: string, key: Hex, bootstrap?: string): RoleComponents & { transport: Transport } => ({
  transport: net.createTransport({ peerId: name, logger }), clock, rng: forkRng(rng, name), logger: logger.child(name), bootstrap,
  onEvent: (e) => events.push({ ...e, name }),
  openDb: () => openDatabase(':memory:'),
  payments: { scheme: 'lottery', context: { chain, deployment, key, clock, rng: forkRng(rng, `${name}:pay`), logger } },
})
const cfg = (over: Partial<CdnConfig>): CdnConfig => CdnConfigSchema.parse({ contentBytes: 256 * 1024, maxCaches: 3, pricePerChunk: 100n, ...over })

const [, pubKey, c1Key, c2Key, c3Key, malloryKey] = chain.devKeys
const publisher = await cdnMarket.wire('publisher', components('publisher', pubKey), cfg({ pricePerChunk: 100n }))
const pubAddr = 'publisher'

async function join(t: Transport, offer: unknown) {
  const s = await t.dial(pubAddr, CDN_JOIN)
  await sendMessage(s, joinCodec, { type: 'join', offer: offer as never })
  const r = await readMessage(s, joinReplyCodec)
  s.abort()
  return r
}
const body = (key: Hex, peer: string, over: Partial<OfferBody> = {}): OfferBody => ({
  type: 'offer', service: 'cdn', server: keySigner(key).address, peer, resources: { bytes: 1 << 30, bandwidthBps: 0, durationSec: 0, computeUnits: 0 },
  price: perChunk(100n), collateral: 0n, schemes: ['lottery'], region: 'any', latencyMs: 0, addresses: [`/memory/${peer}`], capabilities: [],
  expiresAt: clock.now() + 60_000, seq: BigInt(clock.now()), ...over,
})

test('a cache priced above the cap is hired at a negotiated price within it; one whose floor is above the cap is declined', async () => {
  // Its list price 150 is above the publisher's 100 a chunk; its floor is 75: they meet in between.
  const c1 = await cdnMarket.wire('cache', components('cache-1', c1Key, pubAddr), cfg({ pricePerChunk: 150n }))
  await c1.ready
  const deal = events.find((e) => e.kind === 'deal' && e.name === 'publisher') as unknown as { pricePerChunk: bigint; listPricePerChunk: bigint; rounds: number }
  assert.ok(deal.pricePerChunk <= 100n && deal.pricePerChunk >= 75n, `price ${deal.pricePerChunk}`)
  assert.equal(deal.listPricePerChunk, 150n)
  assert.ok(deal.rounds >= 2)
  const hired = events.find((e) => e.kind === 'hired' && e.name === 'cache-1') as unknown as { pricePerChunk: bigint }
  assert.equal(hired.pricePerChunk, deal.pricePerChunk)
  // Floor 150 (list 300): above the cap, no deal; the cache is told why and nothing is hired.
  const c2 = await cdnMarket.wire('cache', components('cache-2', c2Key, pubAddr), cfg({ pricePerChunk: 300n }))
  await assert.rejects(c2.ready, /publisher declined: no deal: price-above-cap/)
  assert.equal(publisher.publisher.stats().cachesHired, 1)
  await c2.stop()
})

test('forged, replayed, expired and malformed offers are declined with their reasons; nothing is hired for them', async () => {
  const mallory = net.createTransport({ peerId: 'mallory', logger })
  // Signed by mallory in cache-3's name (cache-3's payee as the server).
  const forged = signOffer(body(c3Key, 'mallory'), malloryKey, domain)
  assert.deepEqual(await join(mallory, forged), { type: 'decline', reason: 'bad-signature' })
  // cache-3's own offer, relayed by mallory (a third party replaying what it saw).
  const genuine = signOffer(body(c3Key, 'cache-3'), c3Key, domain)
  assert.deepEqual(await join(mallory, genuine), { type: 'decline', reason: 'the offer names another peer' })
  // Expired; another service; a price model the CDN does not bill by.
  assert.deepEqual(await join(mallory, signOffer(body(malloryKey, 'mallory', { expiresAt: clock.now() - 1 }), malloryKey, domain)), { type: 'decline', reason: 'expired' })
  assert.deepEqual(await join(mallory, signOffer(body(malloryKey, 'mallory', { service: 'storage' }), malloryKey, domain)), { type: 'decline', reason: 'wrong-service' })
  const perUnitOffer = signOffer(body(malloryKey, 'mallory', { price: { kind: 'per-unit', base: 0n, rates: [{ usage: 'units', price: 1n, per: 1n }] } }), malloryKey, domain)
  assert.deepEqual(await join(mallory, perUnitOffer), { type: 'decline', reason: 'a CDN cache prices per chunk, not per-unit' })
  // Too small for the content.
  assert.deepEqual(await join(mallory, signOffer(body(malloryKey, 'mallory', { resources: { bytes: 1000, bandwidthBps: 0, durationSec: 0, computeUnits: 0 } }), malloryKey, domain)), { type: 'decline', reason: 'not enough resources' })
  // The same signed offer twice: the second is a replay.
  const once = signOffer(body(malloryKey, 'mallory', { seq: BigInt(clock.now()) * 1000n, resources: { bytes: 10, bandwidthBps: 0, durationSec: 0, computeUnits: 0 } }), malloryKey, domain)
  assert.deepEqual(await join(mallory, once), { type: 'decline', reason: 'not enough resources' })
  assert.deepEqual(await join(mallory, once), { type: 'decline', reason: 'replayed' })
  // Malformed: the codec refuses it, the stream is reset, the publisher carries on.
  const s = await mallory.dial(pubAddr, CDN_JOIN)
  await s.write(new TextEncoder().encode(JSON.stringify({ type: 'join', offer: { ...genuine, collateral: 'lots', seq: '1' } }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))))
  await assert.rejects(readMessage(s, joinReplyCodec))
  assert.equal(publisher.publisher.stats().cachesHired, 1)
  const reasons = logger.entries.filter((e) => e.msg === 'declined cache offer').map((e) => e.fields!.reason)
  assert.deepEqual(reasons.slice(-8), ['bad-signature', 'the offer names another peer', 'expired', 'wrong-service', 'a CDN cache prices per chunk, not per-unit', 'not enough resources', 'not enough resources', 'replayed'])
})

test('an honest cache joining after the attacks is hired; the publisher stops at maxCaches', async () => {
  const c3 = await cdnMarket.wire('cache', components('cache-3', c3Key, pubAddr), cfg({ pricePerChunk: 100n }))
  await c3.ready
  assert.equal(publisher.publisher.stats().cachesHired, 2)
  await c3.stop()
  await publisher.stop()
})
