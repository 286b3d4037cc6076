/**
 * Issue 15, failure 1 ("one ticket poisons a batch"), against a real TicketBroker on the embedded chain and real
 * SQLite stores:
 *  - the payee refuses every ticket the broker could not redeem (a signature whose v byte is flipped verifies
 *    against the payer's key but recovers another address on chain; the top nonce; non-canonical signatures), with
 *    a typed reason and nothing stored; a property test mutates valid payments and checks that whatever is accepted
 *    and stored redeems;
 *  - `settle` with unredeemable winners stored next to honest ones (a store gone bad, or written by an older
 *    version): every honest winner is paid on chain (the broker's events and the token's transfers say so), every
 *    bad one is a loss with its reason, and the next settle has nothing left to do;
 *  - what isolating one bad ticket among N costs (chain calls counted at the provider; gas from the receipts).
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import Database from 'better-sqlite3'
import { privateKeyToAddress } from 'viem/accounts'
import { parseEventLogs, type Address, type Hex } from 'viem'
import { abis, createEmbeddedProvider, chainFromProvider, type Chain, type Eip1193Provider } from '../../chain/index.js'
import { faucet } from '../../chain/deploy.js'
import { write } from '../../chain/tx.js'
import { bytesToHex, hexToBytes } from '../../crypto/bytes.js'
import { SECP256K1_N } from '../../crypto/secp256k1.js'
import { deploySouk, type SoukDeployment } from '../deploy.js'
import { PaymentRejectedError } from '../errors.js'
import { fundPayer } from '../registry.js'
import type { LotteryParams } from '../schemas.js'
import type { Payment, PaymentTerms } from '../types.js'
import { testComponents } from '../testing.js'
import { createLotteryPayee, LANE_SHIFT, SEQ_MASK } from './payee.js'
import { lotteryPayeeStore, type LotteryStoreScope, type NewWinner } from './store.js'
import { MAX_WIN_PROB, randHash, signTicket, ticketDomain } from './ticket.js'
import { redeemedTickets } from './events.js'

/** Above the face value the payee computes: face = price and every ticket wins. */
const ALWAYS = 10n ** 17n
const RESERVE = 10n ** 21n

let chain: Chain
let d: SoukDeployment
let dir: string
let keys: Hex[]
/** eth_* methods the provider served, in order (to count what settle asks of the chain). */
const requests: string[] = []
const addr = (k: Hex) => privateKeyToAddress(k).toLowerCase() as Address
let A: Hex, B: Hex, HUGE: Hex
let nextPayee = 5

before(async () => {
  const p = await createEmbeddedProvider({ accounts: 20 })
  const counting: Eip1193Provider = {
    request(a) {
      requests.push((a as { method: string }).method)
      return p.request(a)
    },
  }
  chain = await chainFromProvider(counting, { kind: 'embedded', devKeys: p.keys, dev: true })
  keys = p.keys
  d = await deploySouk(chain, keys[0]!, { unlockPeriodBlocks: 20 })
  ;[, A, B, HUGE] = keys as [Hex, Hex, Hex, Hex]
  for (const k of [A, B, HUGE]) {
    await fundPayer('lottery', { chain, deployment: d, key: k }, { deposit: RESERVE })
    await faucet(chain, k, d.token, addr(k), 100n * RESERVE)
    await write(chain, chain.wallet(k), { address: d.token, abi: abis.SoukTokenAbi, functionName: 'approve', args: [d.contracts.lottery.ticketBroker, 100n * RESERVE] })
  }
  dir = mkdtempSync(join(tmpdir(), 'souk-lottery-poison-'))
})
after(async () => {
  await chain.close()
  rmSync(dir, { recursive: true, force: true })
})

const broker = () => d.contracts.lottery.ticketBroker.toLowerCase() as Address
const scope = (): LotteryStoreScope => ({ chainId: chain.chainId, broker: broker() })
const lp = (t: PaymentTerms) => t.params as LotteryParams
const laneOf = (t: PaymentTerms) => lp(t).nextNonce >> LANE_SHIFT
const seqOf = (t: PaymentTerms) => lp(t).nextNonce & SEQ_MASK

/** A new payee key with a reserve of every payer in `payers`. */
async function payeeKey(payers: Hex[] = [A]): Promise<Hex> {
  const key = keys[nextPayee++]!
  for (const k of payers) await write(chain, chain.wallet(k), { address: broker(), abi: abis.TicketBrokerAbi, functionName: 'fundReserve', args: [addr(key), RESERVE] })
  return key
}

/** A payment of one ticket per nonce in `nonces` under `terms`, signed by `key`; `tweak` may rewrite each signature. */
function pay(terms: PaymentTerms, key: Hex, nonces: bigint[], tweak: (sig: Uint8Array) => Uint8Array = (s) => s): Payment {
  const p = lp(terms)
  const domain = ticketDomain(chain.chainId, broker())
  const tickets = nonces.map((nonce) => ({
    nonce,
    sig: bytesToHex(tweak(signTicket(domain, { recipient: terms.payee, sender: addr(key), faceValue: p.faceValue, winProb: p.winProb, senderNonce: nonce, recipientRandHash: p.recipientRandHash, expirationBlock: p.expirationBlock }, key))),
  }))
  return {
    scheme: 'lottery', payer: addr(key), payee: terms.payee, amount: terms.pricePerChunk * BigInt(tickets.length),
    body: { faceValue: p.faceValue, winProb: p.winProb, recipientRandHash: p.recipientRandHash, expirationBlock: p.expirationBlock, tickets },
  }
}
const next = (t: PaymentTerms) => (laneOf(t) << LANE_SHIFT) | seqOf(t)

/** v 27 <-> 28: r and s still verify against the payer's key, but ecrecover on chain gives another address. */
const flipV = (sig: Uint8Array) => { const s = Uint8Array.from(sig); s[64] = s[64] === 27 ? 28 : 27; return s }
/** s -> n - s with v flipped: the same point, the malleable twin the broker refuses. */
function highS(sig: Uint8Array) {
  const s = BigInt(bytesToHex(sig.subarray(32, 64)))
  const out = flipV(sig)
  out.set(hexToBytes(`0x${(SECP256K1_N - s).toString(16).padStart(64, '0')}`), 32)
  return out
}

async function rejects(p: Promise<unknown>, reason: string) {
  await assert.rejects(p, (e: unknown) => (e instanceof PaymentRejectedError && e.reason === reason ? true : assert.fail(`expected ${reason}, got ${String(e)}`)))
}

/** The broker's answer to redeeming `w` alone, by `payee`, simulated: 'ok' or the revert's error name. */
async function brokerSays(payee: Hex, w: { sender: Address; nonce: bigint; face: bigint; winProb: bigint; randHash: Hex; rand: bigint; expiration: bigint; sig: Hex }): Promise<string> {
  const sig = hexToBytes(w.sig)
  try {
    await chain.public.simulateContract({
      account: addr(payee), address: broker(), abi: abis.TicketBrokerAbi, functionName: 'redeemWinningTicket',
      args: [{
        ticket: { recipient: addr(payee), sender: w.sender, faceValue: w.face, winProb: w.winProb, senderNonce: w.nonce, recipientRandHash: w.randHash, expirationBlock: w.expiration },
        r: bytesToHex(sig.subarray(0, 32)), s: bytesToHex(sig.subarray(32, 64)), v: sig[64]!, recipientRand: w.rand,
      }],
    })
    return 'ok'
  } catch (e) {
    return (e as { walk(f: (x: unknown) => boolean): { data?: { errorName?: string } } | null }).walk((x) => !!(x as { data?: { errorName?: string } }).data?.errorName)?.data?.errorName ?? String(e)
  }
}

test('the payee refuses a winning ticket the broker could not redeem (top nonce, high s, v outside 27/28) with a typed reason and stores nothing; a flipped v is stored as the v the broker recovers its payer with', async () => {
  const key = await payeeKey()
  const store = lotteryPayeeStore(join(dir, 'refuse.sqlite'))
  const pe = await createLotteryPayee({ chain, deployment: d, key, store, ...testComponents('poison.test/refuse') })
  try {
    // An honest winner first: the payee has now seen (and may remember) the payer's public key.
    let t = await pe.terms(addr(A), ALWAYS)
    t = (await pe.receive(pay(t, A, [next(t)]))).terms!
    assert.equal(pe.pendingWinners(), 1)
    const stored = () => store.winners(scope())
    await rejects(pe.receive(pay(t, A, [next(t)], highS)), 'bad-signature')
    await rejects(pe.receive(pay(t, A, [next(t)], (s) => { const o = Uint8Array.from(s); o[64] -= 27; return o })), 'bad-signature')
    // The top nonce (2^256 - 1) is never in a lane the payee hands out.
    await rejects(pe.receive(pay(t, A, [MAX_WIN_PROB])), 'params-mismatch')
    assert.equal(stored().length, 1)
    // The same payer, v flipped: r and s are its signature, and the payee checks them against its key alone; v is
    // a hint until the ticket may win, then the payee takes the v that recovers the payer (the one the broker
    // needs). Sent as is, the broker would recover someone else; stored, it redeems.
    const honest = pay(t, A, [next(t)])
    const flipped = pay(t, A, [next(t)], flipV)
    const w = { sender: addr(A), nonce: next(t), face: lp(t).faceValue, winProb: lp(t).winProb, randHash: lp(t).recipientRandHash, rand: store.rands(scope()).find((r) => r.hash === lp(t).recipientRandHash)!.rand, expiration: lp(t).expirationBlock }
    assert.equal(await brokerSays(key, { ...w, sig: (flipped.body as { tickets: { sig: Hex }[] }).tickets[0]!.sig }), 'TicketBrokerInvalidSignature')
    t = (await pe.receive(flipped)).terms!
    const last = stored().at(-1)!
    assert.equal(last.sig, (honest.body as { tickets: { sig: Hex }[] }).tickets[0]!.sig, 'stored with the v that recovers the payer')
    assert.equal(await brokerSays(key, { ...w, sig: last.sig }), 'ok')
    // Several tickets, the last one flipped: all accepted, each stored with its broker-ready v.
    let n = 0
    await pe.receive(pay(t, A, [next(t), next(t) + 1n, next(t) + 2n], (s) => (++n === 3 ? flipV(s) : s)))
    assert.equal(stored().length, 5)
    const rep = await pe.settle({ force: true })
    assert.equal(rep.settled, 5)
    assert.equal(rep.lostCount ?? 0, 0)
  } finally {
    await pe.close()
  }
})

test('property: whatever a mutated payment gets past the payee, every winner it stores is one the broker redeems', async () => {
  const key = await payeeKey()
  const store = lotteryPayeeStore()
  const pe = await createLotteryPayee({ chain, deployment: d, key, store, ...testComponents('poison.test/property') })
  try {
    // One honest winner first, so the payer's key is cached (the path that once skipped v).
    let t = await pe.terms(addr(A), ALWAYS)
    t = (await pe.receive(pay(t, A, [next(t)]))).terms!
    const field = fc.constantFrom('sigByte', 'v', 'vAny', 'highS', 'nonce', 'nonceTop', 'face', 'winProb', 'expiration', 'randHash', 'none')
    await fc.assert(fc.asyncProperty(field, fc.nat(64), fc.bigInt({ min: 0n, max: MAX_WIN_PROB }), async (what, i, big) => {
      const before = store.winners(scope()).length
      const nonce = what === 'nonce' ? big : what === 'nonceTop' ? MAX_WIN_PROB : next(t)
      const p = pay(t, A, [nonce], (s) => {
        const o = Uint8Array.from(s)
        if (what === 'sigByte') o[i] ^= 1 + (Number(big % 255n))
        if (what === 'v') return flipV(s)
        if (what === 'vAny') o[64] = Number(big % 256n)
        if (what === 'highS') return highS(s)
        return o
      })
      const body = p.body as { faceValue: bigint; winProb: bigint; expirationBlock: bigint; recipientRandHash: Hex }
      if (what === 'face') body.faceValue = big
      if (what === 'winProb') body.winProb = big
      if (what === 'expiration') body.expirationBlock = big
      if (what === 'randHash') body.recipientRandHash = `0x${big.toString(16).padStart(64, '0')}`
      try {
        const r = await pe.receive(p)
        if (r.terms) t = r.terms
      } catch (e) {
        assert.ok(e instanceof PaymentRejectedError, String(e))
        assert.equal(store.winners(scope()).length, before, 'a refused payment stores nothing')
        return
      }
      for (const w of store.winners(scope()).slice(before)) assert.equal(await brokerSays(key, w), 'ok', `${what}: stored winner ${w.nonce} is redeemable`)
    }), { numRuns: 60, seed: 15 })
    // All that was stored is paid.
    const rep = await pe.settle({ force: true })
    assert.equal(rep.lostCount ?? 0, 0)
    assert.equal(pe.pendingWinners(), 0)
  } finally {
    await pe.close()
  }
})

/** Stores `ws` straight into the SQLite store at `path` (a store gone bad, or written by an older version). */
function plant(path: string, ws: NewWinner[]) {
  const s = lotteryPayeeStore(path)
  try { s.addWinners(scope(), ws) } finally { s.close() }
}
/** A winner signed by `key` for `payee` in a lane of the test's own, with a rand of its own (winProb 1: it wins). */
function forged(payee: Hex, key: Hex, o: { lane: bigint; seq?: bigint; face?: bigint; expiration: bigint; tweak?: (s: Uint8Array) => Uint8Array }): NewWinner {
  const rand = 1000n + o.lane
  const nonce = (o.lane << LANE_SHIFT) | (o.seq ?? 0n)
  const face = o.face ?? ALWAYS
  const sig = signTicket(ticketDomain(chain.chainId, broker()), { recipient: addr(payee), sender: addr(key), faceValue: face, winProb: MAX_WIN_PROB, senderNonce: nonce & ((1n << 256n) - 1n), recipientRandHash: randHash(rand), expirationBlock: o.expiration }, key)
  return { sender: addr(key), nonce, face, winProb: MAX_WIN_PROB, randHash: randHash(rand), rand, expiration: o.expiration, sig: bytesToHex((o.tweak ?? ((s) => s))(sig)), createdBlock: 0n }
}
const rowsOf = (path: string) => {
  const db = new Database(path, { readonly: true })
  try { return db.prepare('select sender, nonce, status, reason from lottery_winners order by id').all() as { sender: string; nonce: string; status: string; reason: string | null }[] } finally { db.close() }
}

test('settle with unredeemable winners stored among honest ones: every honest winner is paid on chain, each bad one is a loss with its reason, and the next settle is clean', async () => {
  const key = await payeeKey([A, B, HUGE])
  const me = addr(key)
  const path = join(dir, 'poisoned.sqlite')
  // Honest winners: 4 of A and 3 of B, each in its own rand.
  const first = await createLotteryPayee({ chain, deployment: d, key, store: lotteryPayeeStore(path), ...testComponents('poison.test/poisoned-1') })
  const honest: string[] = []
  for (const [k, n] of [[A, 4], [B, 3]] as const) {
    let t = await first.terms(addr(k), ALWAYS)
    for (let i = 0; i < n; i++) {
      honest.push(`${addr(k)}:${next(t)}`)
      t = (await first.receive(pay(t, k, [next(t)]))).terms!
    }
  }
  await first.close()
  const exp = (await chain.blockNumber()) + 500n
  plant(path, [
    // The broker recovers another signer (a store that lost a bit, or a payee before the v check).
    forged(key, A, { lane: 11n, expiration: exp, tweak: flipV }),
    // Not a uint256 nonce: cannot even be encoded, and its lane (2^128) is one nextNonce() refuses.
    forged(key, B, { lane: 1n << 128n, expiration: exp }),
    // A signature cut short.
    forged(key, A, { lane: 12n, expiration: exp, tweak: (s) => s.subarray(0, 64) }),
    // The other encoding (n - s, v flipped): no EIP-2098 form, so no run can carry it.
    forged(key, A, { lane: 13n, expiration: exp, tweak: highS }),
    // Two tickets of face 2^255 from one payer: each alone becomes a claim, together they overflow its debt (Panic(17)).
    forged(key, HUGE, { lane: 21n, face: 1n << 255n, expiration: exp }),
    forged(key, HUGE, { lane: 22n, face: 1n << 255n, expiration: exp }),
  ])
  const pe = await createLotteryPayee({ chain, deployment: d, key, store: lotteryPayeeStore(path), ...testComponents('poison.test/poisoned-2') })
  try {
    const from = (await chain.blockNumber()) + 1n
    const rep = await pe.settle({ force: true })
    assert.equal(rep.settled, 7)
    assert.equal(rep.received, 7n * ALWAYS)
    assert.equal(rep.claims, 1, 'one 2^255 ticket is queued as a claim on its payer (what the broker does with it)')
    assert.equal(rep.lostCount, 5)
    assert.equal(rep.pending, 0)
    // The chain says the same: each honest winner redeemed once, paid to the payee by the token.
    const redeemed = await redeemedTickets(chain, broker(), { recipient: me, fromBlock: from })
    assert.deepEqual(redeemed.map((e) => `${e.sender}:${e.nonce}`).sort(), [...honest].sort())
    const transfers = await chain.public.getContractEvents({ address: d.token, abi: abis.SoukTokenAbi, eventName: 'Transfer', args: { from: broker(), to: me }, fromBlock: from, toBlock: 'latest' })
    assert.equal(transfers.reduce((s, e) => s + (e.args as { value: bigint }).value, 0n), 7n * ALWAYS)
    const rows = rowsOf(path)
    const bySender = (k: Hex) => rows.filter((r) => r.sender === addr(k))
    assert.deepEqual(rows.filter((r) => honest.includes(`${r.sender}:${r.nonce}`)).map((r) => r.status), Array(7).fill('redeemed'))
    const lost = rows.filter((r) => r.status === 'lost').map((r) => r.reason)
    assert.equal(lost.length, 5)
    assert.ok(lost.some((r) => /^the broker refuses it: TicketBrokerInvalidSignature$/.test(r!)), String(lost))
    assert.ok(lost.some((r) => /^the broker refuses it: Panic\(17\)$/.test(r!)), String(lost))
    assert.equal(lost.filter((r) => /^not a ticket the broker can take: /.test(r!)).length, 3, String(lost))
    assert.ok(lost.some((r) => /high-s signature has no EIP-2098 form/.test(r!)), String(lost))
    assert.deepEqual(bySender(HUGE).map((r) => r.status).sort(), ['claim', 'lost'])
    // Nothing left: the next settle sends nothing and fails on nothing.
    assert.deepEqual(await pe.settle({ force: true }), { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0 })
    assert.equal(pe.stats().received, 7n * ALWAYS)
  } finally {
    await pe.close()
  }
})

/** `n` honest winners of A for a new payee, in a SQLite store at `path`; the payee key. */
async function honestWinners(path: string, n: number, label: string): Promise<Hex> {
  const key = await payeeKey()
  const pe = await createLotteryPayee({ chain, deployment: d, key, store: lotteryPayeeStore(path), ...testComponents(label) })
  let t = await pe.terms(addr(A), ALWAYS)
  for (let i = 0; i < n; i++) t = (await pe.receive(pay(t, A, [next(t)]))).terms!
  await pe.close()
  return key
}
/** A settle of the store at `path` by a fresh payee process of `key`: its report and the chain requests it made, by method. */
async function measuredSettle(key: Hex, path: string, label: string) {
  const pe = await createLotteryPayee({ chain, deployment: d, key, store: lotteryPayeeStore(path), ...testComponents(label) })
  try {
    const from = requests.length
    const rep = await pe.settle({ force: true })
    const calls: Record<string, number> = {}
    for (const m of requests.slice(from)) calls[m] = (calls[m] ?? 0) + 1
    return { rep, calls }
  } finally {
    await pe.close()
  }
}

test('cost of isolating one bad winner among N: N eth_calls and one failed gas estimate more than a clean batch, the same one transaction, no extra gas', async (t) => {
  for (const n of [10, 50, 100]) {
    const bad = join(dir, `cost-bad-${n}.sqlite`)
    const badKey = await honestWinners(bad, n, `poison.test/cost-bad-${n}`)
    // One stored winner's v flipped (as a payee before the v check stored it): the batch reverts.
    const db = new Database(bad)
    const victim = db.prepare("select id, sig from lottery_winners order by id limit 1 offset ?").get(Math.floor(n / 2)) as { id: number; sig: string }
    db.prepare('update lottery_winners set sig = ? where id = ?').run(bytesToHex(flipV(hexToBytes(victim.sig as Hex))), victim.id)
    db.close()
    const clean = join(dir, `cost-clean-${n}.sqlite`)
    const cleanKey = await honestWinners(clean, n - 1, `poison.test/cost-clean-${n}`)
    const b = await measuredSettle(badKey, bad, `poison.test/cost-bad-settle-${n}`)
    const c = await measuredSettle(cleanKey, clean, `poison.test/cost-clean-settle-${n}`)
    assert.equal(b.rep.settled, n - 1)
    assert.equal(b.rep.lostCount, 1)
    assert.equal(c.rep.settled, n - 1)
    assert.equal(b.rep.transactions, 1)
    assert.equal(c.rep.transactions, 1)
    assert.equal(b.calls.eth_sendRawTransaction, c.calls.eth_sendRawTransaction)
    assert.equal((b.calls.eth_call ?? 0) - (c.calls.eth_call ?? 0), n, 'one simulation per winner of the failed batch')
    assert.equal((b.calls.eth_estimateGas ?? 0) - (c.calls.eth_estimateGas ?? 0), 1, 'the failed batch was only estimated: nothing reverted on chain')
    // Same winners paid, same calldata shape: the gas differs only by the bytes of different signatures.
    const gasRatio = Number(b.rep.gasUsed) / Number(c.rep.gasUsed)
    assert.ok(Math.abs(gasRatio - 1) < 0.01, `gas ${b.rep.gasUsed} vs ${c.rep.gasUsed}`)
    const extra = Object.fromEntries(Object.keys({ ...b.calls, ...c.calls }).map((m) => [m, (b.calls[m] ?? 0) - (c.calls[m] ?? 0)]).filter(([, v]) => v !== 0))
    t.diagnostic(`N=${n}: gas ${b.rep.gasUsed} (clean batch of ${n - 1}: ${c.rep.gasUsed}), 1 tx each; extra requests ${JSON.stringify(extra)}`)
  }
})
