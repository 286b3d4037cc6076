import { test, before, after } from 'node:test'
import { deploySouk, type SoukDeployment } from '../../payments/deploy.js'
import assert from 'node:assert/strict'
import { createChain, type Chain } from '../../chain/index.js'
import { createMemoryNetwork, createLibp2pTransport } from '../../net/index.js'
import { runCdnScenario, type CdnScenarioOptions } from './scenario.js'
import { minePastCurrentDraw } from '../../payments/microcash/index.js'
import { SoukTokenAbi } from '../../../artifacts/contracts.js'
import { systemClock } from '../../core/clock.js'
import { systemRng } from '../../proofs/capnet/index.js'

let chain: Chain
let dep: SoukDeployment
before(async () => {
  chain = await createChain({ kind: 'embedded', accounts: 32 }) // fresh keys per scenario
  dep = await deploySouk(chain, chain.devKeys[0])
})
after(async () => { await chain.close() })

const CHUNK = 128 * 1024
const memory = () => { const net = createMemoryNetwork(); return async (role: string) => net.createTransport({ peerId: role }) }
let keyBase = 1
/** Fresh keys per scenario: lottery nonces and reserves are per (payer, payee). */
const keys = (n: number) => { const k = chain.devKeys.slice(keyBase, keyBase + n); keyBase += n; return k }
const run = (o: Omit<CdnScenarioOptions, 'chain' | 'deployment' | 'clock' | 'rng'>) => runCdnScenario({ chain, deployment: dep, clock: systemClock(), rng: systemRng, ...o, keys: keys(1 + o.caches) })

async function honestScenario(newTransport: CdnScenarioOptions['newTransport'], extra: Partial<CdnScenarioOptions> = {}) {
  const r = await run({ newTransport, caches: 2, clients: 2, contentBytes: 1 << 20, ...extra })
  for (const c of r.clients) assert.ok(c.ok, c.error)
  const chunks = (1 << 20) / CHUNK
  assert.equal(r.publisher.claimsPaid, 2 * chunks, 'every delivered chunk is paid once')
  assert.equal(r.caches.reduce((s, c) => s + c.claimsPaid, 0), 2 * chunks)
  assert.equal(r.publisher.bundlesProven, r.publisher.bundlesIssued)
  for (const c of r.caches) {
    assert.ok(c.chunksServed > 0 && c.credited > 0n)
    assert.equal(c.credited, r.publisher.paidTo[c.payee.toLowerCase() as `0x${string}`] ?? r.publisher.paidTo[c.payee])
  }
  return r
}

test('CDN over the memory transport: 2 caches, 2 clients, byte-exact content, caches paid per chunk', async () => {
  await honestScenario(memory())
})

test('CDN over libp2p in one process: the same scenario, the same role code', async () => {
  await honestScenario(async () => createLibp2pTransport())
})

/** Token units `contract` transferred to `to` since `fromBlock` (what a cache really received on chain). */
async function transfersTo(contract: `0x${string}`, to: `0x${string}`, fromBlock: bigint) {
  const logs = await chain.public.getContractEvents({ address: dep.token, abi: SoukTokenAbi, eventName: 'Transfer', args: { from: contract, to }, fromBlock })
  return logs.reduce((s, l) => s + (l.args as { value: bigint }).value, 0n)
}

test('CDN with the channel scheme (memory transport): caches hired at once each get their own channel, every chunk paid and collected', async () => {
  const from = await chain.blockNumber()
  // The caches join concurrently: the publisher opens their channels one at a time (a race used to give the second
  // channel another id than the one its vouchers named, so that cache was never paid).
  const r = await honestScenario(memory(), { scheme: 'channel' })
  assert.equal(r.publisher.paymentsRefused, 0)
  for (const c of r.caches) {
    assert.equal(c.claimsRejected, 0)
    assert.equal(c.settle!.received, c.credited, 'closing the channel collects every voucher')
    assert.equal(await transfersTo(dep.contracts.channel.paymentChannel, c.payee, from), c.settle!.received)
  }
})

test('CDN with the microcash scheme (memory transport): one ticket per chunk, draws mined past on the dev chain, winners redeemed', async () => {
  const from = await chain.blockNumber()
  const r = await honestScenario(memory(), { scheme: 'microcash', beforeSettle: async () => { await minePastCurrentDraw(chain, { roundLengthBlocks: 10, drawDelayBlocks: 5 }) } })
  assert.equal(r.publisher.paymentsRefused, 0)
  let winners = 0
  for (const c of r.caches) {
    assert.equal(c.settle!.pending, 0, 'every round with tickets was drawn before settling')
    winners += c.settle!.settled
    assert.equal(await transfersTo(dep.contracts.microcash.concurrentLottery, c.payee, from), c.settle!.received)
  }
  // 16 tickets, N = 64 per round, W = 32: P(no winner) ~ 1e-6.
  assert.ok(winners > 0, 'the testnet schedule makes a handful of the 16 tickets win')
})

test('a colluding cache + client cannot claim without the client downloading every honest chunk', async () => {
  const r = await run({ newTransport: memory(), caches: 3, clients: 2, contentBytes: 768 * 1024, cacheBehaviours: ['honest', 'colluding', 'honest'], clientBehaviours: ['colluding', 'honest'], partnerOf: { 0: 1 } })
  const [colluder, honest] = r.clients
  const bad = r.caches[1]
  assert.ok(honest.ok, honest.error)
  assert.ok(colluder.shortcutAttempts > 0, 'the partner was in a bundle')
  assert.equal(colluder.shortcutFailures, colluder.shortcutAttempts, 'the puzzle cannot be solved without the honest chunks')
  assert.ok(bad.forgedClaims > 0)
  assert.equal(bad.forgedClaimsPaid, 0, 'forged claims (no secret, made-up secret) are all rejected')
  // What the pair earned, it earned only for chunks whose bundles were solved, i.e. fully downloaded.
  assert.ok(colluder.ok, colluder.error)
  for (const h of [r.caches[0], r.caches[2]]) assert.ok((colluder.bytesFrom[h.peer] ?? 0) > 0, 'the colluding client had to download from honest caches')
})

test('a client that stops paying is cut off after one chunk per cache; a cache serving garbage is detected and not paid', async () => {
  const r = await run({ newTransport: memory(), caches: 3, clients: 2, contentBytes: 768 * 1024, cacheBehaviours: ['honest', 'garbage', 'honest'], clientBehaviours: ['stingy', 'honest'] })
  const [stingy, honest] = r.clients
  assert.ok(honest.ok, honest.error)
  assert.ok(stingy.cutOff, 'the stingy client was cut off')
  for (const c of r.caches) assert.ok((stingy.bytesFrom[c.peer] ?? 0) <= CHUNK, `cache ${c.peer} served the stingy client at most one chunk`)
  assert.ok(r.caches.some((c) => Object.keys(c.refused).some((k) => k.startsWith('unpaid')) || r.publisher.bundlesIssued > 0))
  const garbage = r.caches[1]
  assert.ok(honest.badChunks > 0 || garbage.chunksServed === 0, 'garbage was detected')
  assert.ok(honest.repairs >= honest.badChunks)
  assert.equal(garbage.claimsPaid, 0)
  assert.equal(garbage.credited, 0n)
})
