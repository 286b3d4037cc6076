import { test, before, after } from 'node:test'
import { deploySouk, type SoukDeployment } from '../payments/deploy.js'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { privateKeyToAddress } from 'viem/accounts'
import { createChain, type Chain } from '../chain/index.js'
import { createMemoryNetwork } from '../net/index.js'
import { createPayee, createPayer, fundPayer, type SchemeName } from '../payments/index.js'
import { memoryLogger, silentLogger } from '../core/logger.js'
import { serveExchange, fetchExchange, createSponsorDesk, createClaimant } from './index.js'
import { testComponents } from '../payments/testing.js'
import { manualClock } from '../core/clock.js'

let chain: Chain
let dep: SoukDeployment
before(async () => {
  chain = await createChain({ kind: 'embedded' })
  dep = await deploySouk(chain, chain.devKeys[0])
})
after(async () => { await chain.close() })

const CHUNK = 64 * 1024
const data = Array.from({ length: 6 }, () => new Uint8Array(randomBytes(CHUNK)))
const source = async () => ({ chunkCount: data.length, chunk: async (i: number) => ({ body: data[i] }) })

async function setup(scheme: SchemeName, payerKey: `0x${string}`, payeeKey: `0x${string}`) {
  const payee = await createPayee(scheme, { chain, deployment: dep, key: payeeKey, ...testComponents('exchange.test/payee-1') })
  await fundPayer(scheme, { chain, deployment: dep, key: payerKey }, { deposit: 10n ** 21n, reserves: scheme === 'lottery' ? [{ payee: payee.address, amount: 10n ** 20n }] : [] })
  const payer = await createPayer(scheme, { chain, deployment: dep, key: payerKey, ...testComponents('exchange.test/payer-2') })
  return { payee, payer }
}

for (const scheme of ['lottery', 'channel'] as const) {
  test(`client-pays exchange over the memory transport (${scheme}): byte-exact, every chunk paid`, async () => {
    const k = scheme === 'lottery' ? [1, 2] : [3, 4]
    const { payee, payer } = await setup(scheme, chain.devKeys[k[0]], chain.devKeys[k[1]])
    const net = createMemoryNetwork()
    const s = net.createTransport({ peerId: 'server' }), c = net.createTransport({ peerId: 'client' })
    const server = await serveExchange(s, { logger: silentLogger(), payee, pricePerChunk: 1000n, open: source })
    const r = await fetchExchange(c, 'server', { logger: silentLogger(), payer, request: { file: 'x' }, verify: (i, b) => Buffer.compare(b, data[i]) === 0 })
    assert.equal(r.refused, undefined)
    assert.deepEqual(r.chunks.map((x) => Buffer.from(x).toString('hex')), data.map((x) => Buffer.from(x).toString('hex')))
    assert.equal(server.stats().chunksPaid, data.length)
    assert.equal(payee.stats().credited, 1000n * BigInt(data.length))
    await s.stop(); await c.stop()
  })
}

test('a payer that stops paying is cut off after one unpaid chunk; a forged payment is refused and banned', async () => {
  const { payee, payer } = await setup('lottery', chain.devKeys[5], chain.devKeys[6])
  const net = createMemoryNetwork()
  const log = memoryLogger()
  const s = net.createTransport({ peerId: 'server' }), c = net.createTransport({ peerId: 'client' }), m = net.createTransport({ peerId: 'mallory' })
  const server = await serveExchange(s, { payee, pricePerChunk: 1000n, open: source, logger: log })
  const r = await fetchExchange(c, 'server', { logger: silentLogger(), payer, request: {}, verify: () => true, stopPayingAfter: 2 })
  // Paid chunks 0 and 1, received chunk 2 unpaid, then refused when asking for 3.
  assert.equal(r.chunks.length, 3)
  assert.deepEqual(r.refused, { reason: 'unpaid', atChunk: 3 })
  assert.equal(server.stats().chunksServed, 3)
  assert.equal(server.stats().chunksPaid, 2)
  assert.ok(log.entries.some((e) => e.msg === 'refusing exchange' && e.fields?.reason === 'unpaid'))

  // Mallory replays the honest client's payment messages under her own session: refused, banned.
  const replay = await payer.open(await payee.terms(payer.address, 1000n))
  const p = await replay.pay(1000n)
  await payee.receive(p)
  const forged = await fetchExchange(m, 'server', { logger: silentLogger(), request: {}, verify: () => true, payer: { ...payer, address: payer.address, open: async () => ({ ...replay, pay: async () => p }) } as never })
  assert.equal(forged.refused?.reason, 'bad-payment')
  assert.ok(s.isBanned('mallory'))
  await s.stop(); await c.stop(); await m.stop()
})

test('a chunk that fails verification is not paid and ends the session', async () => {
  const { payee, payer } = await setup('lottery', chain.devKeys[7], chain.devKeys[8])
  const net = createMemoryNetwork()
  const s = net.createTransport({ peerId: 'server' }), c = net.createTransport({ peerId: 'client' })
  const server = await serveExchange(s, { logger: silentLogger(), payee, pricePerChunk: 1000n, open: async () => ({ chunkCount: 3, chunk: async (i) => ({ body: i === 1 ? new Uint8Array(10) : data[i] }) }) })
  const r = await fetchExchange(c, 'server', { logger: silentLogger(), payer, request: {}, verify: (i, b) => Buffer.compare(b, data[i]) === 0 })
  assert.equal(r.refused?.reason, 'chunk-failed-verification')
  assert.equal(r.chunks.length, 1)
  await new Promise((res) => setTimeout(res, 20))
  assert.equal(server.stats().chunksPaid, 1) // chunk 0 (good) was paid with the request for chunk 1; the garbage chunk 1 never is
  await s.stop(); await c.stop()
})

test('sponsor-pays: the sponsor pays only verified claims, once each, in order', async () => {
  const { payee, payer } = await setup('lottery', chain.devKeys[9], chain.devKeys[10])
  const net = createMemoryNetwork()
  const sp = net.createTransport({ peerId: 'sponsor' }), sv = net.createTransport({ peerId: 'server' })
  const desk = await createSponsorDesk(sp, { logger: silentLogger(), payer, verifyClaim: async (c) => ((c.proof as { ok?: boolean }).ok ? { ok: true } : { ok: false, reason: 'bad proof' }) })
  await desk.addServer('server', await payee.terms(payer.address, 500n))
  const claimant = createClaimant(sv, { logger: silentLogger(), sponsor: 'sponsor', payee, sponsorPayer: privateKeyToAddress(chain.devKeys[9]) })
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => claimant.claim({ id: `r${i}`, proof: { ok: i !== 3 } })))
  assert.deepEqual(results.map((r) => r.paid), [true, true, true, false, true, true, true, true])
  assert.equal((await claimant.claim({ id: 'r0', proof: { ok: true } })).paid, false) // replayed claim
  assert.equal(claimant.stats().credited, 500n * 7n)
  assert.equal(desk.stats().paid, 7)
  await sp.stop(); await sv.stop()
})

test('a claimant whose sponsor is gone resolves unpaid and retryable (the dial is inside its try), never rejects', async () => {
  const net = createMemoryNetwork()
  const sv = net.createTransport({ peerId: 'server' })
  const log = memoryLogger()
  const payee = { receive: async () => { throw new Error('never called') } } as never
  const claimant = createClaimant(sv, { logger: log, sponsor: 'gone', payee })
  const r = await claimant.claim({ id: 'r0', proof: {} })
  assert.equal(r.paid, false)
  assert.equal(r.retryable, true)
  assert.equal(claimant.stats().unanswered, 1)
  assert.ok(log.entries.some((e) => e.level === 'warn' && /unreachable/.test(e.msg)))
  await sv.stop()
})

test('sponsor desk: claim ids are remembered for claimTtlMs on its clock, at most maxClaimIds (then busy, retryable), never paid twice', async () => {
  const { payee, payer } = await setup('lottery', chain.devKeys[11], chain.devKeys[12])
  const net = createMemoryNetwork()
  const sp = net.createTransport({ peerId: 'sponsor' }), sv = net.createTransport({ peerId: 'server' })
  const clock = manualClock(0)
  const desk = await createSponsorDesk(sp, { logger: silentLogger(), payer, clock, claimTtlMs: 60_000, maxClaimIds: 2, verifyClaim: async () => ({ ok: true }) })
  await desk.addServer('server', await payee.terms(payer.address, 500n))
  const claimant = createClaimant(sv, { logger: silentLogger(), sponsor: 'sponsor', payee })
  assert.equal((await claimant.claim({ id: 'a', proof: {} })).paid, true)
  assert.equal((await claimant.claim({ id: 'b', proof: {} })).paid, true)
  const full = await claimant.claim({ id: 'c', proof: {} })
  assert.equal(full.paid, false)
  assert.equal(full.retryable, true, 'a busy desk did not judge the claim')
  assert.equal((await claimant.claim({ id: 'a', proof: {} })).paid, false, 'a remembered id is not paid twice')
  assert.deepEqual(desk.sizes(), { claimIds: 2, servers: 1 })
  clock.advance(60_000)
  assert.deepEqual(desk.sizes(), { claimIds: 0, servers: 1 }, 'forgotten after claimTtlMs')
  assert.equal((await claimant.claim({ id: 'c', proof: {} })).paid, true, 'the busy claim goes through later')
  for (let i = 0; i < 200 && desk.stats().paid < 3; i++) await new Promise((r) => setTimeout(r, 5)) // the desk counts on the receipt
  assert.equal(desk.stats().paid, 3)
  await sp.stop(); await sv.stop()
})
