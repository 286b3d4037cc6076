import { test, describe, before, after } from 'node:test'
import { deploySouk, type SoukDeployment } from './deploy.js'
import assert from 'node:assert/strict'
import { privateKeyToAddress } from 'viem/accounts'
import type { Address, Hex } from 'viem'
import { createChain, type Chain, abis } from '../chain/index.js'
import { write } from '../chain/tx.js'
import { createPayee, createPayer, fundPayer, PaymentRejectedError, type Payment, type PayeeSide, type PayerSession } from './index.js'
import { ticketDigest, ticketDomain, signTicket, isWinningTicket, ticketDraw, winProbFor, MAX_WIN_PROB, randHash } from './lottery/ticket.js'
import { channelDomain, voucherDigest } from './channel/voucher.js'
import { keccak256, keccak256Noble } from '../crypto/keccak.js'
import { hexToBytes, bytesToHex } from '../crypto/bytes.js'
import { signDigest, recoverPublicKey, addressOfPublicKey, verifyWithPublicKey, parseCanonicalSignature } from '../crypto/secp256k1.js'
import { secp256k1 as noble } from '@noble/curves/secp256k1.js'
import fc from 'fast-check'
import { testComponents } from './testing.js'

let chain: Chain
let d: SoukDeployment
let payerKey: Hex, payeeKey: Hex, otherKey: Hex
let payer: Address, payee: Address

before(async () => {
  chain = await createChain({ kind: 'embedded', accounts: 6 })
  d = await deploySouk(chain, chain.devKeys[0], { unlockPeriodBlocks: 20 })
  ;[, payerKey, payeeKey, otherKey] = chain.devKeys as Hex[]
  payer = privateKeyToAddress(payerKey).toLowerCase() as Address
  payee = privateKeyToAddress(payeeKey).toLowerCase() as Address
})
after(() => chain.close())

describe('crypto backends', () => {
  test('native keccak equals noble on random inputs', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => Buffer.from(keccak256(b)).equals(Buffer.from(keccak256Noble(b)))))
  })
  test('native signatures verify with noble and vice versa; only canonical ones pass', () => {
    const key = hexToBytes(payerKey)
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (digest) => {
      const sig = signDigest(digest, key)
      const pub = recoverPublicKey(digest, sig)!
      assert.equal(addressOfPublicKey(pub), payer)
      assert.ok(noble.verify(sig.subarray(0, 64), digest, pub, { prehash: false }))
      assert.ok(verifyWithPublicKey(digest, sig, pub))
      // high-s twin: same signature, other encoding — rejected
      const s = BigInt(bytesToHex(sig.subarray(32, 64)))
      const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
      const twin = new Uint8Array(sig)
      twin.set(hexToBytes((n - s).toString(16).padStart(64, '0')), 32)
      twin[64] = sig[64] === 27 ? 28 : 27
      assert.equal(parseCanonicalSignature(twin), undefined)
      assert.equal(verifyWithPublicKey(digest, twin, pub), false)
      assert.equal(verifyWithPublicKey(digest, sig.subarray(0, 64), pub), false)
    }), { numRuns: 50 })
  })
})

describe('lottery tickets', () => {
  test('off-chain digest equals TicketBroker.ticketDigest; draw equals isWinning', async () => {
    const domain = ticketDomain(chain.chainId, d.contracts.lottery.ticketBroker)
    const t = { recipient: payee, sender: payer, faceValue: 10n ** 18n, winProb: MAX_WIN_PROB / 3n, senderNonce: 7n, recipientRandHash: randHash(42n), expirationBlock: 999n }
    const onChain = await chain.public.readContract({ address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'ticketDigest', args: [t] })
    assert.equal(bytesToHex(ticketDigest(domain, t)), onChain)
    const sig = signTicket(domain, t, payerKey)
    const win = await chain.public.readContract({ address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'isWinning', args: [bytesToHex(sig.subarray(0, 32)), bytesToHex(sig.subarray(32, 64)), sig[64], 42n, t.winProb] })
    assert.equal(isWinningTicket(sig, 42n, t.winProb), win)
    const cd = await chain.public.readContract({ address: d.contracts.channel.paymentChannel, abi: abis.PaymentChannelAbi, functionName: 'voucherDigest', args: [`0x${'ab'.repeat(32)}`, 12345n] })
    assert.equal(bytesToHex(voucherDigest(channelDomain(chain.chainId, d.contracts.channel.paymentChannel), `0x${'ab'.repeat(32)}`, 12345n)), cd)
  })

  test('over 10^4 tickets at winProb p the number of winners lies within 4 sigma', () => {
    const domain = ticketDomain(chain.chainId, d.contracts.lottery.ticketBroker)
    const p = 0.05
    const winProb = winProbFor(5n, 100n)
    const n = 10_000
    let wins = 0
    for (let i = 0; i < n; i++) {
      const t = { recipient: payee, sender: payer, faceValue: 100n, winProb, senderNonce: BigInt(i), recipientRandHash: randHash(1n), expirationBlock: 1n }
      if (isWinningTicket(signTicket(domain, t, payerKey), 123456789n, winProb)) wins++
    }
    const mean = n * p
    const sigma = Math.sqrt(n * p * (1 - p))
    assert.ok(Math.abs(wins - mean) <= 4 * sigma, `wins=${wins}, expected ${mean} ± ${4 * sigma}`)
    assert.ok(ticketDraw(new Uint8Array(65), 0n) >= 0n)
  })
})

describe('lottery scheme end to end', () => {
  let pe: PayeeSide
  let session: PayerSession
  const price = 10n ** 15n

  before(async () => {
    await fundPayer('lottery', { chain, deployment: d, key: payerKey }, { deposit: 10n ** 19n, reserves: [{ payee, amount: 10n ** 19n }] })
    pe = await createPayee('lottery', { chain, deployment: d, key: payeeKey, ...testComponents('payments.test/payee-1') })
    const pr = await createPayer('lottery', { chain, deployment: d, key: payerKey, ...testComponents('payments.test/payer-2') })
    session = await pr.open(await pe.terms(payer, price))
  })

  test('pays 400 chunks; winners are redeemed in batches; the payee gets exactly face × winners', async () => {
    const before = await chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [payee] })
    for (let i = 0; i < 400; i++) {
      const r = await pe.receive(await session.pay(price))
      assert.equal(r.credited, price)
      if (r.terms) session.update(r.terms)
    }
    const s = pe.stats()
    assert.equal(s.payments, 400)
    const rep = await pe.settle({ force: true })
    assert.equal(rep.settled, s.winning)
    const after = await chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [payee] })
    assert.equal(after - before, rep.received)
    assert.ok(s.winning > 0 && s.winning < 400, `winners ${s.winning} of 400: the face value should exceed the price`)
  })

  test('bad input is rejected with a typed reason and stores nothing', async () => {
    const good = await session.pay(price)
    const reasons: string[] = []
    const expectReject = async (p: unknown, reason: string) => {
      await assert.rejects(pe.receive(p as Payment), (e: unknown) => e instanceof PaymentRejectedError && e.reason === reason)
      reasons.push(reason)
    }
    await expectReject({ ...good, amount: 'lots' }, 'malformed')
    await expectReject({ ...good, scheme: 'channel' }, 'wrong-scheme')
    await expectReject({ ...good, payee: privateKeyToAddress(otherKey) }, 'wrong-payee')
    const body = good.body as { tickets: { nonce: bigint; sig: Hex }[]; recipientRandHash: Hex }
    // forged: a signature by another key
    const forged = structuredClone(good)
    const fb = forged.body as typeof body & { faceValue: bigint; winProb: bigint; expirationBlock: bigint }
    fb.tickets[0].sig = bytesToHex(signTicket(ticketDomain(chain.chainId, d.contracts.lottery.ticketBroker), { recipient: payee, sender: payer, faceValue: fb.faceValue, winProb: fb.winProb, senderNonce: fb.tickets[0].nonce, recipientRandHash: fb.recipientRandHash, expirationBlock: fb.expirationBlock }, otherKey))
    await expectReject(forged, 'bad-signature')
    // wrong chain: signed under another chain id's domain
    const wrongChain = structuredClone(good)
    const wb = wrongChain.body as typeof fb
    wb.tickets[0].sig = bytesToHex(signTicket(ticketDomain(1, d.contracts.lottery.ticketBroker), { recipient: payee, sender: payer, faceValue: wb.faceValue, winProb: wb.winProb, senderNonce: wb.tickets[0].nonce, recipientRandHash: wb.recipientRandHash, expirationBlock: wb.expirationBlock }, payerKey))
    await expectReject(wrongChain, 'bad-signature')
    await expectReject({ ...good, body: { ...body, recipientRandHash: randHash(5n) } }, 'unknown-params')
    const before = pe.stats()
    const r = await pe.receive(good)
    if (r.terms) session.update(r.terms)
    await expectReject(good, (r.terms ? 'expired' : 'replayed'))
    assert.equal(pe.stats().payments, before.payments + 1)
  })
})

describe('channel scheme end to end', () => {
  test('vouchers per chunk, persisted; close pays the payee what the last voucher says', async () => {
    const price = 10n ** 15n
    await fundPayer('channel', { chain, deployment: d, key: payerKey }, { deposit: 10n ** 18n })
    const pe = await createPayee('channel', { chain, deployment: d, key: payeeKey, ...testComponents('payments.test/payee-3') })
    const pr = await createPayer('channel', { chain, deployment: d, key: payerKey, ...testComponents('payments.test/payer-4') })
    const session = await pr.open(await pe.terms(payer, price))
    const before = await chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [payee] })
    let last: Payment | undefined
    for (let i = 0; i < 150; i++) { last = await session.pay(price); await pe.receive(last) } // crosses the deposit: top-up
    await assert.rejects(pe.receive(last!), (e: unknown) => e instanceof PaymentRejectedError && e.reason === 'replayed')
    const rep = await pe.settle({ force: true })
    assert.equal(rep.received, 150n * price)
    const after = await chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [payee] })
    assert.equal(after - before, 150n * price)
  })
})

describe('lottery payee store', () => {
  test('one SQLite file reused across two chains keeps their tickets apart', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = mkdtempSync(join(tmpdir(), 'souk-store-'))
    try {
      for (let run = 0; run < 2; run++) {
        const c = await createChain({ kind: 'embedded', accounts: 3 })
        const dep = await deploySouk(c, c.devKeys[0])
        const [, pk, qk] = c.devKeys as Hex[]
        const q = privateKeyToAddress(qk).toLowerCase() as Address
        await fundPayer('lottery', { chain: c, deployment: dep, key: pk }, { deposit: 10n ** 19n, reserves: [{ payee: q, amount: 10n ** 19n }] })
        const pe = await createPayee('lottery', { chain: c, deployment: dep, key: qk, storePath: join(dir, 'payee.sqlite'), ...testComponents('payments.test/payee-5') })
        const s = await (await createPayer('lottery', { chain: c, deployment: dep, key: pk, ...testComponents('payments.test/payer-6') })).open(await pe.terms(privateKeyToAddress(pk), 10n ** 15n))
        for (let i = 0; i < 60; i++) { const r = await pe.receive(await s.pay(10n ** 15n)); if (r.terms) s.update(r.terms) }
        const rep = await pe.settle({ force: true })
        assert.equal(rep.settled, pe.stats().winning, `run ${run}: only this chain's winners are redeemed`)
        await pe.close()
        await c.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('channel scheme under concurrency', () => {
  test('one payer opening channels to several payees at once gets the right channel ids', async () => {
    const price = 10n ** 12n
    const [, k1, , , k4, k5] = chain.devKeys as Hex[]
    await fundPayer('channel', { chain, deployment: d, key: k1 }, { deposit: 10n ** 18n })
    const payees = await Promise.all([k4, k5, payeeKey].map((key) => createPayee('channel', { chain, deployment: d, key, ...testComponents('payments.test/payee-7') })))
    const pr = await createPayer('channel', { chain, deployment: d, key: k1, ...testComponents('payments.test/payer-8') })
    const p1 = privateKeyToAddress(k1)
    const sessions = await Promise.all(payees.map(async (pe) => pr.open(await pe.terms(p1, price))))
    for (let i = 0; i < 5; i++) {
      for (const [j, s] of sessions.entries()) assert.equal((await payees[j].receive(await s.pay(price))).credited, price)
    }
    // A voucher the payee never saw: the next one adds two chunks' worth and is still accepted.
    const pe = payees[0]
    await sessions[0].pay(price)
    assert.equal((await pe.receive(await sessions[0].pay(price))).credited, price)
    for (const p of payees) assert.equal((await p.settle({ force: true })).settled, 1)
  })
})

describe('lottery settlement when the sender falls short', () => {
  test('winners never outgrow the reserve; a payer that withdraws it while the payee is away turns them into claims, booked as claims and paid by its next funding', async () => {
    const c = await createChain({ kind: 'embedded', accounts: 4 })
    try {
      const dep = await deploySouk(c, c.devKeys[0], { unlockPeriodBlocks: 5 })
      const [, pk, qk] = c.devKeys as Hex[]
      const q = privateKeyToAddress(qk).toLowerCase() as Address
      const p = privateKeyToAddress(pk).toLowerCase() as Address
      await fundPayer('lottery', { chain: c, deployment: dep, key: pk }, { deposit: 0n, reserves: [{ payee: q, amount: 10n ** 16n }] })
      const pe = await createPayee('lottery', { chain: c, deployment: dep, key: qk, ...testComponents('payments.test/payee-9') })
      const s = await (await createPayer('lottery', { chain: c, deployment: dep, key: pk, ...testComponents('payments.test/payer-10') })).open(await pe.terms(p, 10n ** 15n))
      let refused = 0
      for (let i = 0; i < 400 && refused === 0; i++) {
        try {
          const r = await pe.receive(await s.pay(10n ** 15n))
          if (r.terms) s.update(r.terms)
        } catch (e) {
          assert.ok(e instanceof PaymentRejectedError && ['underfunded', 'expired'].includes(e.reason), String(e))
          refused++
        }
      }
      const wins = pe.stats().winning
      assert.ok(wins >= 1 && refused === 1, `the payee stops once its winners use up the reserve (winners ${wins})`)
      // Never more than the reserve: the winners held fit in it.
      assert.equal((pe as unknown as { pendingWinners(): number }).pendingWinners(), wins)
      // The payer unlocks and withdraws its reserve while the payee does not settle.
      await write(c, c.wallet(pk), { address: dep.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'unlock', args: [] })
      await c.dev!.mine(6)
      await write(c, c.wallet(pk), { address: dep.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'withdraw', args: [[q]] })
      const bal = () => c.public.readContract({ address: dep.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [q] })
      const b0 = await bal()
      const rep = await pe.settle({ force: true })
      // Every winner is queued for its full face value, booked as a claim: neither received nor lost.
      assert.equal(rep.claims, wins)
      assert.equal(rep.settled, 0)
      assert.equal(rep.received, 0n)
      assert.equal(rep.lostCount ?? 0, 0)
      assert.equal(await bal(), b0)
      const debtOf = async () => (await c.public.readContract({ address: dep.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'getSender', args: [p] }))[2]
      const owed = await debtOf()
      assert.ok(owed > 0n && owed <= 10n ** 16n, `the claims (${owed}) fit in the reserve the payee relied on`)
      // The sender's next funding pays the claims first, in full.
      await fundPayer('lottery', { chain: c, deployment: dep, key: pk }, { deposit: 10n ** 18n })
      assert.equal((await bal()) - b0, owed)
      assert.equal(await debtOf(), 0n)
      await pe.close()
    } finally {
      await c.close()
    }
  })
})
