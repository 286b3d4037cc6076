import { test } from 'node:test'
import { deploySouk } from '../deploy.js'
import assert from 'node:assert/strict'
import type { Address, Hex } from 'viem'
import { createChain } from '../../chain/chain.js'
import { faucet } from '../../chain/deploy.js'
import { abis } from '../../chain/index.js'
import { openDatabase } from '../../core/db.js'
import { PaymentRejectedError } from '../errors.js'
import type { Payment } from '../types.js'
import {
  createMicrocashPayee, createMicrocashPayer, createEscrow, deployConcurrentLottery, getEscrow, createIssuer, createSequenceAllocator, toWire,
  microcashScheme, drawBlockOf, roundAt, BURN_ADDRESS, redeemWinners, proveDuplicate, winnerRank, type EscrowParams,
} from './index.js'
import { testComponents } from '../testing.js'
import { openSqliteSequenceStore, openSqliteMicrocashServerStore } from './store.js'

const PARAMS: EscrowParams = { ticketValue: 1000n, ticketsPerRound: 64, winnersPerRound: 8, roundLengthBlocks: 4, drawDelayBlocks: 3, rounds: 40, redeemWindowBlocks: 100 }

let setups = 0
async function setup() {
  // A fresh key seed per chain: viem's nonce manager remembers nonces per address across chains.
  const chain = await createChain({ kind: 'embedded', accounts: 5, seed: `microcash-scheme-${setups++}` })
  const [deployer, sponsorKey, aKey, bKey, otherKey] = chain.devKeys
  const d = await deploySouk(chain, deployer)
  const lottery = await deployConcurrentLottery(chain, deployer, d.token)
  d.contracts.microcash.concurrentLottery = lottery
  const sponsor = chain.wallet(sponsorKey).account.address
  const other = chain.wallet(otherKey).account.address
  await faucet(chain, deployer, d.token, sponsor, 10n ** 9n)
  await faucet(chain, deployer, d.token, other, 10n ** 9n)
  const balance = PARAMS.ticketValue * BigInt(PARAMS.winnersPerRound * PARAMS.rounds)
  const escrowId = await createEscrow(chain, sponsorKey, { lottery, token: d.token, params: PARAMS, balance, penalty: 50_001n })
  const otherEscrow = await createEscrow(chain, otherKey, { lottery, token: d.token, params: PARAMS, balance, penalty: 0n })
  const bal = (a: Address) => chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [a] })
  return { chain, d, lottery, sponsorKey, aKey, bKey, otherKey, sponsor, escrowId, otherEscrow, bal }
}

type Setup = Awaited<ReturnType<typeof setup>>
/** A microcash payee (server) with an in-memory store. */
const memPayee = (s: Setup, privateKey: Hex) => createMicrocashPayee({ chain: s.chain, lottery: s.lottery, privateKey, store: openSqliteMicrocashServerStore(openDatabase(':memory:')), ...testComponents('microcash-scheme.test/microcashpayee-1') })
/** The sponsor's issuer for `escrowId`, 64 tickets per round, with an in-memory allocator. */
const memIssuer = (s: Setup, escrowId: bigint) => createIssuer({ chainId: s.chain.chainId, lottery: s.lottery, escrowId, privateKey: s.sponsorKey, allocator: createSequenceAllocator(openSqliteSequenceStore(':memory:'), { ticketsPerRound: 64 }), ...testComponents('microcash-scheme.test/issuer-2') })

const rejects = (p: Promise<unknown>, reason: string) =>
  assert.rejects(p, (e: unknown) => { assert.ok(e instanceof PaymentRejectedError, String(e)); assert.equal(e.reason, reason, e.message); return true })

test('microcash scheme: pay two servers from one escrow, draw, batch redemption pays exactly the winners', async () => {
  const s = await setup()
  try {
    const payeeA = createMicrocashPayee({ chain: s.chain, lottery: s.lottery, privateKey: s.aKey, store: openSqliteMicrocashServerStore(openDatabase(':memory:')), redeemBatch: 1000, ...testComponents('microcash-scheme.test/microcashpayee-3') })
    const payeeB = createMicrocashPayee({ chain: s.chain, lottery: s.lottery, privateKey: s.bKey, store: openSqliteMicrocashServerStore(openDatabase(':memory:')), redeemBatch: 1000, ...testComponents('microcash-scheme.test/microcashpayee-4') })
    const payer = createMicrocashPayer({ chain: s.chain, lottery: s.lottery, privateKey: s.sponsorKey, escrowId: s.escrowId, store: openSqliteSequenceStore(openDatabase(':memory:')), bundleSize: 16, ...testComponents('microcash-scheme.test/microcashpayer-5') })
    assert.equal(microcashScheme.name, 'microcash')
    const ev = 1000n * 8n / 64n
    const sa = await payer.open(await payeeA.terms(payer.address, ev))
    const sb = await payer.open(await payeeB.terms(payer.address, ev))
    let credited = 0n
    for (let i = 0; i < 40; i++) {
      for (const [sess, payee] of [[sa, payeeA], [sb, payeeB]] as const) {
        const r = await payee.receive(await sess.pay(ev))
        credited += r.credited
      }
      if (i % 10 === 9) await s.chain.dev!.mine(4) // next round
    }
    assert.equal(credited, 80n * ev)
    assert.equal(sa.paid() + sb.paid(), 80n * ev)
    await s.chain.dev!.mine(10)
    const ra = await payeeA.settle({ force: true })
    const rb = await payeeB.settle({ force: true })
    const a = s.chain.wallet(s.aKey).account.address
    const b = s.chain.wallet(s.bKey).account.address
    assert.equal(await s.bal(a), ra.received)
    assert.equal(await s.bal(b), rb.received)
    assert.equal(ra.received, BigInt(ra.settled) * 1000n)
    assert.ok(ra.settled + rb.settled > 0, 'some ticket should win (80 tickets, p = 1/8)')
    assert.ok(ra.transactions <= 2 && rb.transactions <= 2)
    const e = await getEscrow(s.chain, s.lottery, s.escrowId)
    assert.equal(e.balance, 1000n * 8n * 40n - ra.received - rb.received)
    // Nothing left to do, and settling again pays nothing twice.
    const again = await payeeA.settle({ force: true })
    assert.equal(again.settled, 0)
  } finally {
    await s.chain.close()
  }
})

test('microcash scheme: bad input is rejected with typed reasons and stores nothing', async () => {
  const s = await setup()
  try {
    const payee = memPayee(s, s.aKey)
    const payer = createMicrocashPayer({ chain: s.chain, lottery: s.lottery, privateKey: s.sponsorKey, escrowId: s.escrowId, store: openSqliteSequenceStore(openDatabase(':memory:')), ...testComponents('microcash-scheme.test/microcashpayer-6') })
    const ev = 125n
    const sess = await payer.open(await payee.terms(payer.address, ev))
    const good = await sess.pay(ev)
    const body = good.body as { escrowId: bigint; tickets: ReturnType<typeof toWire>[] }
    const t0 = body.tickets[0]
    const withTicket = (t: Partial<typeof t0>, extra: Partial<Payment> = {}): Payment => ({ ...good, ...extra, body: { escrowId: body.escrowId, tickets: [{ ...t0, ...t }] } })
    const flip = (h: Hex) => (h.slice(0, -1) + (h.endsWith('0') ? '1' : '0')) as Hex
    await rejects(payee.receive(withTicket({ salt: flip(t0.salt) })), 'bad-merkle-path')
    await rejects(payee.receive(withTicket({ salt: flip(t0.salt), root: undefined })), 'bad-signature')
    await rejects(payee.receive(withTicket({ proof: t0.proof.map(flip), root: undefined })), 'bad-signature')
    await rejects(payee.receive(withTicket({ seq: 64 })), 'out-of-schedule')
    const cur = roundAt(await s.chain.blockNumber(), PARAMS.roundLengthBlocks)
    await rejects(payee.receive(withTicket({ round: cur + 1 })), 'future-round')
    await rejects(payee.receive(withTicket({ round: 0 })), 'out-of-schedule')
    await rejects(payee.receive({ ...good, body: { escrowId: s.otherEscrow, tickets: [t0] } }), 'params-mismatch')
    await rejects(payee.receive({ ...good, body: { escrowId: 999n, tickets: [t0] } }), 'params-mismatch')
    await rejects(payee.receive({ ...good, payee: s.sponsor }), 'wrong-payee')
    await rejects(payee.receive({ ...good, scheme: 'lottery' }), 'wrong-scheme')
    await rejects(payee.receive({ ...good, body: { escrowId: body.escrowId, tickets: [{ ...t0, sig: '0x12' }] } }), 'malformed')
    await rejects(payee.receive({ ...good, amount: ev * 2n }), 'amount-too-low')
    // High-s twin of the batch signature.
    const sig = t0.sig
    const sN = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n - BigInt(`0x${sig.slice(66, 130)}`)
    const hi = `${sig.slice(0, 66)}${sN.toString(16).padStart(64, '0')}${sig.endsWith('1b') ? '1c' : '1b'}` as Hex
    await rejects(payee.receive(withTicket({ sig: hi })), 'non-canonical-signature')
    assert.equal(payee.stats().payments, 0)
    // The good one is accepted once; a replay is refused.
    await payee.receive(good)
    await rejects(payee.receive(good), 'replayed')
    // The sponsor reissues the same number to this server: refused and kept as evidence.
    const cheat = memIssuer(s, s.escrowId)
    const again = cheat.issueOne(t0.round, payee.address)
    assert.equal(again.seq, t0.seq)
    await rejects(payee.receive({ ...good, body: { escrowId: s.escrowId, tickets: [toWire(again)] } }), 'duplicate-sequence')
    // A ticket too close to its draw is refused.
    const late = await sess.pay(ev)
    const lt = (late.body as typeof body).tickets[0]
    const draw = drawBlockOf(lt.round, PARAMS.roundLengthBlocks, PARAMS.drawDelayBlocks)
    await s.chain.dev!.mine(Math.max(0, draw - 2 - Number(await s.chain.blockNumber())))
    await rejects(payee.receive(late), 'expired')
    assert.equal(payee.stats().payments, 1)
  } finally {
    await s.chain.close()
  }
})

test('microcash scheme: numbers issued to two servers: the unpaid one proves each duplicate and is compensated V from the pool; half the penalty burns', async () => {
  const s = await setup()
  try {
    const dbA = openDatabase(':memory:')
    const payeeA = createMicrocashPayee({ chain: s.chain, lottery: s.lottery, privateKey: s.aKey, store: openSqliteMicrocashServerStore(dbA), ...testComponents('microcash-scheme.test/microcashpayee-7') })
    const payeeB = memPayee(s, s.bKey)
    // A cheating sponsor: two allocators, so every number of the round goes to both servers.
    const mk = () => memIssuer(s, s.escrowId)
    const round = roundAt(await s.chain.blockNumber(), PARAMS.roundLengthBlocks)
    const toA = mk().issueBundle(round, [{ server: payeeA.address, count: 64 }])
    const toB = mk().issueBundle(round, [{ server: payeeB.address, count: 64 }])
    const pay = (payee: typeof payeeA, tickets: typeof toA) => payee.receive({ scheme: 'microcash', payer: s.sponsor, payee: payee.address, amount: 125n * BigInt(tickets.length), body: { escrowId: s.escrowId, tickets: tickets.map(toWire) } })
    for (let i = 0; i < 64; i += 32) {
      await pay(payeeA, toA.slice(i, i + 32))
      await pay(payeeB, toB.slice(i, i + 32))
    }
    await s.chain.dev!.mine(12)
    const a = payeeA.address, b = payeeB.address
    const ra = await payeeA.settle({ force: true })
    assert.equal(ra.settled, 8) // all 8 winners of the round
    assert.equal(ra.received, 8000n)
    const before = [await s.bal(a), await s.bal(b), await s.bal(BURN_ADDRESS)]
    const rb = await payeeB.settle({ force: true })
    assert.equal(rb.settled, 0)
    // Every one of B's 8 winners was paid to A: 8 proofs, V each from the pool (25,000 of the 50,001).
    assert.equal(rb.compensated, 8)
    assert.equal(rb.compensation, 8000n)
    assert.equal(rb.received, 8000n)
    assert.deepEqual(rb.lost, [])
    assert.equal((await s.bal(b)) - before[1], 8000n)
    assert.equal((await s.bal(a)) - before[0], 0n)
    assert.equal((await s.bal(BURN_ADDRESS)) - before[2], 25_001n) // ⌈penalty / 2⌉, burned at the first proof
    const e = await getEscrow(s.chain, s.lottery, s.escrowId)
    assert.equal(e.closed, true)
    assert.equal(e.penalty, 0n)
    assert.equal(e.pool, 25_000n - 8000n)
    assert.ok(e.endRound <= roundAt(await s.chain.blockNumber(), PARAMS.roundLengthBlocks) + 1, 'no new rounds after the proof')
    assert.equal(payeeB.stats().received, 8000n)
    assert.equal(payeeB.evidence().filter((x) => x.kind === 'duplicate').length, 8)
    // A caught escrow's tickets are refused.
    await rejects(pay(payeeB, mk().issueBundle(roundAt(await s.chain.blockNumber(), PARAMS.roundLengthBlocks), [{ server: b, count: 1 }])), 'expired')
    // Settling again pays nothing twice.
    const again = await payeeB.settle({ force: true })
    assert.equal(again.received, 0n)
  } finally {
    await s.chain.close()
  }
})

test('microcash scheme: a stolen winner the pool cannot pay is reported lost with its reason, never received', async () => {
  const s = await setup()
  try {
    // An escrow without penalty: the first proof catches it but the pool is empty.
    const sponsorKey = s.otherKey
    const sponsor = s.chain.wallet(sponsorKey).account.address
    const payeeA = memPayee(s, s.aKey)
    const dbB = openDatabase(':memory:')
    const payeeB = createMicrocashPayee({ chain: s.chain, lottery: s.lottery, privateKey: s.bKey, store: openSqliteMicrocashServerStore(dbB), ...testComponents('microcash-scheme.test/microcashpayee-8') })
    const mk = () => createIssuer({ chainId: s.chain.chainId, lottery: s.lottery, escrowId: s.otherEscrow, privateKey: sponsorKey, allocator: createSequenceAllocator(openSqliteSequenceStore(':memory:'), { ticketsPerRound: 64 }), ...testComponents('microcash-scheme.test/issuer-9') })
    const round = roundAt(await s.chain.blockNumber(), PARAMS.roundLengthBlocks)
    const toA = mk().issueBundle(round, [{ server: payeeA.address, count: 64 }])
    const toB = mk().issueBundle(round, [{ server: payeeB.address, count: 64 }])
    const pay = (payee: typeof payeeA, tickets: typeof toA) => payee.receive({ scheme: 'microcash', payer: sponsor, payee: payee.address, amount: 125n * BigInt(tickets.length), body: { escrowId: s.otherEscrow, tickets: tickets.map(toWire) } })
    for (let i = 0; i < 64; i += 32) { await pay(payeeA, toA.slice(i, i + 32)); await pay(payeeB, toB.slice(i, i + 32)) }
    await s.chain.dev!.mine(12)
    await payeeA.settle({ force: true })
    const rb = await payeeB.settle({ force: true })
    assert.equal(rb.received, 0n)
    assert.equal(rb.compensated, 1) // the first proof pays 0 (empty pool) but catches the escrow
    assert.equal(rb.lost.length, 8)
    assert.ok(rb.lost.every((l) => l.reason === 'pool-exhausted' && l.value === 1000n), JSON.stringify(rb.lost, (_k, v) => typeof v === 'bigint' ? String(v) : v))
    assert.equal(payeeB.losses().length, 8) // durable
    assert.equal(rb.lostCount, 8)
    assert.equal(rb.lostValue, 8000n)
    assert.equal(payeeB.stats().lostCount, 8)
    assert.equal(payeeB.stats().received, 0n)
    assert.equal((await getEscrow(s.chain, s.lottery, s.otherEscrow)).closed, true)
  } finally {
    await s.chain.close()
  }
})

test('microcash server: a ticket for a round after the end of the schedule is out-of-schedule, even while that round runs', async () => {
  const s = await setup()
  try {
    const payee = memPayee(s, s.aKey)
    const short = await createEscrow(s.chain, s.sponsorKey, { lottery: s.lottery, token: s.d.token, params: { ...PARAMS, rounds: 2 }, balance: 1000n * 8n * 2n, penalty: 0n })
    const e = await getEscrow(s.chain, s.lottery, short)
    // Into the first round after the schedule: it has begun, its draw is far, only the end-of-schedule check stops it.
    await s.chain.dev!.mine(e.endRound * PARAMS.roundLengthBlocks - Number(await s.chain.blockNumber()))
    const cur = roundAt(await s.chain.blockNumber(), PARAMS.roundLengthBlocks)
    assert.equal(cur, e.endRound)
    const iss = memIssuer(s, short)
    const t = iss.issueOne(cur, payee.address)
    await rejects(payee.receive({ scheme: 'microcash', payer: s.sponsor, payee: payee.address, amount: 125n, body: { escrowId: short, tickets: [toWire(t)] } }), 'out-of-schedule')
    assert.equal(payee.stats().payments, 0)
  } finally {
    await s.chain.close()
  }
})

test('microcash server: once a batch signature is known, a ticket whose path leads elsewhere is bad-merkle-path', async () => {
  const s = await setup()
  try {
    const payee = memPayee(s, s.aKey)
    const iss = memIssuer(s, s.escrowId)
    const round = roundAt(await s.chain.blockNumber(), PARAMS.roundLengthBlocks)
    const bundle = iss.issueBundle(round, [{ server: payee.address, count: 64 }])
    const pay = (w: ReturnType<typeof toWire>) => payee.receive({ scheme: 'microcash', payer: s.sponsor, payee: payee.address, amount: 125n, body: { escrowId: s.escrowId, tickets: [w] } })
    await pay(toWire(bundle[0])) // the signature of the bundle is checked and its root cached
    const flip = (h: Hex) => (h.slice(0, -1) + (h.endsWith('0') ? '1' : '0')) as Hex
    const far = toWire(bundle[63]) // no node of its path is known yet
    await rejects(pay({ ...far, proof: far.proof.map(flip), root: undefined }), 'bad-merkle-path')
    await rejects(pay({ ...far, proof: [...far.proof].reverse(), root: undefined }), 'bad-merkle-path')
    assert.equal(payee.stats().payments, 1)
    // The true path of the same ticket is accepted.
    await pay(far)
    assert.equal(payee.stats().payments, 2)
  } finally {
    await s.chain.close()
  }
})

test('microcash server: a stranger replaying a victim\'s proof or a server\'s redemption first: the server books what it got, no loss', async () => {
  const s = await setup()
  try {
    const payeeA = memPayee(s, s.aKey)
    const payeeB = memPayee(s, s.bKey)
    const mk = () => memIssuer(s, s.escrowId)
    const round = roundAt(await s.chain.blockNumber(), PARAMS.roundLengthBlocks)
    const toA = mk().issueBundle(round, [{ server: payeeA.address, count: 64 }])
    const toB = mk().issueBundle(round, [{ server: payeeB.address, count: 64 }])
    const pay = (payee: typeof payeeA, tickets: typeof toA) => payee.receive({ scheme: 'microcash', payer: s.sponsor, payee: payee.address, amount: 125n * BigInt(tickets.length), body: { escrowId: s.escrowId, tickets: tickets.map(toWire) } })
    for (let i = 0; i < 64; i += 32) { await pay(payeeA, toA.slice(i, i + 32)); await pay(payeeB, toB.slice(i, i + 32)) }
    await s.chain.dev!.mine(12)
    const seed = (await s.chain.public.getBlock({ blockNumber: BigInt(drawBlockOf(round, PARAMS.roundLengthBlocks, PARAMS.drawDelayBlocks)) })).hash!
    const wins = (xs: typeof toA) => xs.filter((t) => winnerRank(seed, s.escrowId, round, t.seq, 64) < 8)
    // A stranger submits A's winners (seen in A's pending calldata): A is paid all the same.
    await redeemWinners(s.chain, s.otherKey, s.lottery, s.escrowId, payeeA.address, wins(toA))
    const ra = await payeeA.settle({ force: true })
    assert.equal(ra.received, 8000n)
    assert.equal(ra.settled, 8)
    assert.deepEqual(ra.lost, [])
    // A stranger proves B's first stolen winner before B does: B books the compensation it got, proves the rest.
    await proveDuplicate(s.chain, s.otherKey, s.lottery, wins(toB)[0], payeeA.address)
    const rb = await payeeB.settle({ force: true })
    assert.equal(rb.compensated, 8)
    assert.equal(rb.received, 8000n)
    assert.deepEqual(rb.lost, [])
    assert.equal(await s.bal(payeeB.address), 8000n)
  } finally {
    await s.chain.close()
  }
})

test('microcash is selectable through the scheme registry like lottery and channel', async () => {
  const { createPayee, createPayer, fundPayer, availableSchemes } = await import('../index.js')
  await import('./index.js')
  assert.ok(availableSchemes().includes('microcash'))
  const chain = await createChain({ kind: 'embedded', accounts: 3, seed: 'microcash-registry' })
  try {
    const d = await deploySouk(chain, chain.devKeys[0])
    d.contracts.microcash.concurrentLottery = await deployConcurrentLottery(chain, chain.devKeys[0], d.token)
    const payerCtx = { chain, deployment: d, key: chain.devKeys[1], ...testComponents('microcash-scheme.test/registry-payer') }
    const payeeCtx = { chain, deployment: d, key: chain.devKeys[2], ...testComponents('microcash-scheme.test/registry-payee') }
    const payeeAddr = chain.wallet(chain.devKeys[2]).account.address
    await fundPayer('microcash', { ...payerCtx, options: { escrow: { ticketsPerRound: 1024, winnersPerRound: 4, rounds: 10 } } }, { deposit: 4n * 10n * 10n ** 6n, reserves: [{ payee: payeeAddr, amount: 10n ** 6n }] })
    const payee = await createPayee('microcash', payeeCtx)
    const payer = await createPayer('microcash', payerCtx)
    const ev = 10n ** 6n * 4n / 1024n
    const session = await payer.open(await payee.terms(payer.address, ev))
    const r = await payee.receive(await session.pay(ev))
    assert.equal(r.credited, ev)
  } finally {
    await chain.close()
  }
})
