/**
 * Fast checks of the reference model (model.ts) that the property tests in invariants.test.ts trust: every rule of
 * TicketBroker and PaymentChannel, driven through small fixed scenarios (and a few short fast-check ones) on the
 * embedded EVM with the model run beside the chain. After every call:
 *  - the call reverts iff the model says so, with the same custom error AND the same error values;
 *  - the tokens leaving a contract (Transfer events) are exactly the model's payouts, in order;
 *  - every balance, sender record, reserve, next nonce (lanes 0, 1 and the top lane), claim count and channel equals
 *    the model; the model's claim queue equals the one rebuilt from ClaimQueued / ClaimPaid events; its
 *    `brokerOwes`, `channelOwes`, `claimsOwedTo` and `liveChannels` equal what the chain holds.
 * Then the parts of the model the chain cannot show directly (views of unknown entries, copies, clone, the
 * signature rules) are checked on the model alone. Seconds, not minutes: one chain, reset between tests.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { numberToHex, keccak256, parseEventLogs, recoverAddress, toHex, type Address, type Hex } from 'viem'
import * as C from '../../artifacts/contracts.js'
import { ContractRevertError, findRevertData } from '../../src/chain/index.js'
import { bytesToHex, hexToBytes, signDigest } from '../../src/crypto/index.js'
import {
  MAX_UINT256, SECP256K1_N, compactSignature, decodeRevert, highS, joinSignature, randHash, read, send, setupSouk, signTicket, signVoucher,
  splitSignature, ticketArg, ticketDigest, ticketDraw, transferLogs, type SignedTicket, type SoukEnv,
} from './helpers.js'
import { LANE_SHIFT, ModelRevert, SEQ_MASK, SoukModel, validSigner, type Claim } from './model.js'

const UNLOCK = 6n
const SETTLE = 12n
const START = 1000n
const ZERO: Address = '0x0000000000000000000000000000000000000000'
const HALF_N = SECP256K1_N / 2n

let env: SoukEnv
let base: SoukModel
let snap: Hex
/** Keys: P1, P2 pay (senders, channel senders); R1, R2 are paid; X is an outsider with tokens. */
let P1: Hex, P2: Hex, R1: Hex, R2: Hex, X: Hex
let a: (k: Hex) => Address

before(async () => {
  env = await setupSouk({ accounts: 6, unlockPeriodBlocks: Number(UNLOCK), settleDelayBlocks: Number(SETTLE) })
  ;[P1, P2, R1, R2, X] = env.keys.slice(1, 6) as [Hex, Hex, Hex, Hex, Hex]
  a = env.addr
  base = new SoukModel({ chainId: env.chain.chainId, broker: env.d.ticketBroker, channel: env.d.paymentChannel, unlockPeriod: UNLOCK, settleDelay: SETTLE })
  for (const k of [P1, P2, X]) {
    await send(env, env.keys[0]!, { address: env.d.token, abi: C.SoukTokenAbi, functionName: 'faucet', args: [a(k), START] })
    base.mint(a(k), START)
    for (const spender of [env.d.ticketBroker, env.d.paymentChannel]) {
      await send(env, k, { address: env.d.token, abi: C.SoukTokenAbi, functionName: 'approve', args: [spender, MAX_UINT256] })
    }
  }
  base.block = await env.chain.blockNumber()
  snap = await env.chain.dev!.snapshot()
})
after(async () => { await env.chain.close() })

/** Lower-cases addresses and hex so chain values and model values compare. */
const norm = (xs: readonly unknown[]) => xs.map((x) => (typeof x === 'string' ? x.toLowerCase() : typeof x === 'number' ? BigInt(x) : x))
const lc = (s: string) => s.toLowerCase()

/** The chain and the model side by side, from a fresh copy of the deployed state. */
class Diff {
  m: SoukModel
  /** Claim queues rebuilt from the broker's events, per sender. */
  readonly queues = new Map<string, Claim[]>()
  /** Channels opened, in order; `settled` removed on ChannelSettled. */
  readonly opened: Hex[] = []
  readonly settled = new Set<Hex>()
  private rands = 1000n

  /** `onChain`: every call also goes to the contracts and both must agree; otherwise the model runs alone. */
  private constructor(readonly onChain: boolean) { this.m = base.clone() }
  /** The model alone, from the deployed state (each call takes one block, as on the chain). */
  static modelOnly(): Diff { return new Diff(false) }
  /** The model beside a fresh copy of the deployed chain. */
  static async onChain(): Promise<Diff> {
    await env.chain.dev!.revert(snap)
    snap = await env.chain.dev!.snapshot()
    const d = new Diff(true)
    d.m.block = await env.chain.blockNumber()
    return d
  }

  /**
   * Sends `fn(args)` from `key` to the broker or the channel contract and applies `op` to a copy of the model;
   * both must agree (revert name and values, or success, payouts and the whole state). Returns the model's
   * revert (undefined on success) and what `op` returned.
   */
  async tx(key: Hex, to: 'broker' | 'channel', fn: string, args: readonly unknown[], op: (m: SoukModel) => unknown): Promise<{ revert?: ModelRevert; value?: unknown }> {
    const next = this.m.clone()
    let revert: ModelRevert | undefined
    let value: unknown
    try {
      value = await op(next)
    } catch (e) {
      if (!(e instanceof ModelRevert)) throw e
      revert = e
    }
    if (!this.onChain) {
      if (!revert) this.m = next
      this.m.block += 1n
      this.checkModel()
      return { revert, value }
    }
    const address = to === 'broker' ? env.d.ticketBroker : env.d.paymentChannel
    const abi = to === 'broker' ? C.TicketBrokerAbi : C.PaymentChannelAbi
    const what = `${fn}(${args.map((x) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))).join(', ')})`
    try {
      const r = await send(env, key, { address, abi, functionName: fn, args })
      assert.ok(!revert, `model expected ${revert?.message} but the chain accepted ${what}`)
      const out = transferLogs(r.logs, env.d.token)
        .filter((t) => lc(t.from) === lc(env.d.ticketBroker) || lc(t.from) === lc(env.d.paymentChannel))
        .map((t) => ({ from: lc(t.from), to: lc(t.to), amount: t.value }))
      assert.deepEqual(next.payouts.map((p) => ({ from: p.from, to: lc(p.to), amount: p.amount })), out, `payouts of ${what}`)
      this.events(r.logs)
      this.m = next
    } catch (e) {
      if (!(e instanceof ContractRevertError)) throw e
      assert.ok(revert, `chain reverted ${e.errorName}(${e.args.map(String).join(', ')}) but the model accepted ${what}`)
      assert.equal(e.errorName, revert.errorName, `revert of ${what}`)
      assert.deepEqual(norm(revert.args), norm(e.args), `values of ${revert.errorName} for ${what}`)
    }
    this.m.block = await env.chain.blockNumber()
    await this.check()
    return { revert, value }
  }

  /** `tx` that must revert with `name` (the model and the chain agreeing on it). */
  async fails(name: string, key: Hex, to: 'broker' | 'channel', fn: string, args: readonly unknown[], op: (m: SoukModel) => unknown) {
    const { revert } = await this.tx(key, to, fn, args, op)
    assert.equal(revert?.errorName, name, `${fn} should revert ${name}`)
    return revert!.args
  }
  /** `tx` that must succeed; returns the model's payouts (as [to, amount] with lower-case addresses). */
  async ok(key: Hex, to: 'broker' | 'channel', fn: string, args: readonly unknown[], op: (m: SoukModel) => unknown) {
    const { revert, value } = await this.tx(key, to, fn, args, op)
    assert.equal(revert, undefined, `${fn} should succeed, model says ${revert?.message}`)
    return { payouts: this.m.payouts.map((p) => [lc(p.to), p.amount] as const), value }
  }

  /** The shorthands below expect success unless `loose` (random scenarios, where either outcome is checked). */
  loose = false
  private async must(p: Promise<{ revert?: ModelRevert; value?: unknown }>) {
    const r = await p
    if (!this.loose) assert.equal(r.revert, undefined, `expected success, the model says ${r.revert?.message}`)
    return r
  }

  // ------------------------------------------------------------ broker shorthands
  deposit(k: Hex, amt: bigint) { return this.must(this.tx(k, 'broker', 'fundDeposit', [amt], (m) => m.fundDeposit(a(k), amt))) }
  reserve(k: Hex, r: Address, amt: bigint) { return this.must(this.tx(k, 'broker', 'fundReserve', [r, amt], (m) => m.fundReserve(a(k), r, amt))) }
  unlock(k: Hex) { return this.must(this.tx(k, 'broker', 'unlock', [], (m) => m.unlock(a(k)))) }
  cancel(k: Hex) { return this.must(this.tx(k, 'broker', 'cancelUnlock', [], (m) => m.cancelUnlock(a(k)))) }
  withdraw(k: Hex, rs: Address[]) { return this.must(this.tx(k, 'broker', 'withdraw', [rs], (m) => m.withdraw(a(k), rs))) }
  redeem(k: Hex, st: SignedTicket) { return this.must(this.tx(k, 'broker', 'redeemWinningTicket', [ticketArg(st)], (m) => m.redeemWinningTicket(a(k), st))) }
  batch(k: Hex, sts: SignedTicket[]) { return this.must(this.tx(k, 'broker', 'batchRedeemWinningTickets', [sts.map(ticketArg)], (m) => m.batchRedeemWinningTickets(a(k), sts))) }
  settleClaims(k: Hex, s: Address) { return this.must(this.tx(k, 'broker', 'settleClaims', [s], (m) => m.settleClaims(s))) }
  redeemFails(name: string, k: Hex, st: SignedTicket) { return this.fails(name, k, 'broker', 'redeemWinningTicket', [ticketArg(st)], (m) => m.redeemWinningTicket(a(k), st)) }
  async redeemOk(k: Hex, st: SignedTicket) { return (await this.ok(k, 'broker', 'redeemWinningTicket', [ticketArg(st)], (m) => m.redeemWinningTicket(a(k), st))).payouts }
  batchFails(name: string, k: Hex, sts: SignedTicket[]) { return this.fails(name, k, 'broker', 'batchRedeemWinningTickets', [sts.map(ticketArg)], (m) => m.batchRedeemWinningTickets(a(k), sts)) }
  async batchOk(k: Hex, sts: SignedTicket[]) { return (await this.ok(k, 'broker', 'batchRedeemWinningTickets', [sts.map(ticketArg)], (m) => m.batchRedeemWinningTickets(a(k), sts))).payouts }

  // ------------------------------------------------------------ channel shorthands
  async open(k: Hex, r: Address, amt: bigint): Promise<Hex> {
    const { value } = await this.must(this.tx(k, 'channel', 'open', [r, amt], (m) => m.open(a(k), r, amt)))
    return value as Hex
  }
  topUp(k: Hex, id: Hex, amt: bigint) { return this.must(this.tx(k, 'channel', 'topUp', [id, amt], (m) => m.topUp(a(k), id, amt))) }
  collect(k: Hex, id: Hex, amt: bigint, sig: Hex) { return this.must(this.tx(k, 'channel', 'collect', [id, amt, sig], (m) => m.collect(a(k), id, amt, sig))) }
  closeByRecipient(k: Hex, id: Hex, amt: bigint, sig: Hex) { return this.must(this.tx(k, 'channel', 'closeByRecipient', [id, amt, sig], (m) => m.closeByRecipient(a(k), id, amt, sig))) }
  startClose(k: Hex, id: Hex) { return this.must(this.tx(k, 'channel', 'startClose', [id], (m) => m.startClose(a(k), id))) }
  challenge(k: Hex, id: Hex, amt: bigint, sig: Hex) { return this.must(this.tx(k, 'channel', 'challenge', [id, amt, sig], (m) => m.challenge(id, amt, sig))) }
  settle(k: Hex, id: Hex) { return this.must(this.tx(k, 'channel', 'settle', [id], (m) => m.settle(id))) }
  voucher(k: Hex, id: Hex, amt: bigint) { return signVoucher(env.chain.chainId, env.d.paymentChannel, k, id, amt) }

  /** Mines `n` blocks. */
  async mine(n: bigint | number) {
    if (!this.onChain) { this.m.block += BigInt(n); return }
    if (BigInt(n) > 0n) await env.chain.dev!.mine(Number(n))
    this.m.block = await env.chain.blockNumber()
  }
  /** Mines until the next transaction executes in block `b`. */
  async execAt(b: bigint) {
    assert.ok(b > this.m.block, `block ${b} is already past (${this.m.block})`)
    await this.mine(b - this.m.block - 1n)
  }
  get exec() { return this.m.block + 1n }

  /** A signed ticket from `from` to `to`; wins unless `win` is false; expires 100 blocks ahead unless `exp` given. */
  async ticket(from: Hex, to: Address, face: bigint, nonce: bigint, o: { win?: boolean; exp?: bigint; sender?: Address; winProb?: bigint } = {}): Promise<SignedTicket> {
    const rand = ++this.rands
    const t = {
      recipient: to, sender: o.sender ?? a(from), faceValue: face, winProb: o.winProb ?? (o.win === false ? 0n : MAX_UINT256), senderNonce: nonce,
      recipientRandHash: randHash(rand), expirationBlock: o.exp ?? this.m.block + 100n,
    }
    // RFC 6979 through libsecp256k1: the same signature viem's signTypedData gives, many times faster.
    const sig = signDigest(hexToBytes(ticketDigest(env.chain.chainId, env.d.ticketBroker, t)), hexToBytes(from))
    return { ticket: t, r: bytesToHex(sig.subarray(0, 32)), s: bytesToHex(sig.subarray(32, 64)), v: sig[64]!, recipientRand: rand }
  }

  private events(logs: Parameters<typeof parseEventLogs>[0]['logs']) {
    for (const e of parseEventLogs({ abi: C.TicketBrokerAbi, logs: logs.filter((l) => lc(l.address) === lc(env.d.ticketBroker)) })) {
      const x = e.args as Record<string, unknown>
      if (e.eventName === 'ClaimQueued') {
        const q = this.queues.get(lc(x.sender as string)) ?? []
        q.push({ recipient: lc(x.recipient as string) as Address, amount: x.faceValue as bigint })
        this.queues.set(lc(x.sender as string), q)
      } else if (e.eventName === 'ClaimPaid') {
        const q = this.queues.get(lc(x.sender as string))!
        assert.equal(q[0]!.recipient, lc(x.recipient as string), 'claims are paid oldest first')
        q[0]!.amount = x.remaining as bigint
        if (q[0]!.amount === 0n) q.shift()
      }
    }
    for (const e of parseEventLogs({ abi: C.PaymentChannelAbi, logs: logs.filter((l) => lc(l.address) === lc(env.d.paymentChannel)) })) {
      const x = e.args as Record<string, unknown>
      if (e.eventName === 'ChannelOpened') this.opened.push(x.channelId as Hex)
      if (e.eventName === 'ChannelSettled') this.settled.add(x.channelId as Hex)
    }
  }

  /** What holds in the model alone: tokens are conserved, each sender's debt is the sum of its queued claims. */
  checkModel() {
    const { m } = this
    const holders = [P1, P2, R1, R2, X].map(a).concat([env.d.ticketBroker, env.d.paymentChannel, ZERO])
    assert.equal(holders.reduce((t, h) => t + m.balanceOf(h), 0n), 3n * START, 'tokens are conserved')
    assert.equal(m.balanceOf(ZERO), 0n)
    for (const s of [P1, P2, X].map(a)) {
      const q = m.claimQueue(s)
      assert.equal(m.getSender(s).debt, q.reduce((t, c) => t + c.amount, 0n), `debt of ${s} == Σ its claims`)
      assert.equal(m.pendingClaims(s), q.length)
      assert.ok(q.every((c) => c.amount > 0n), 'a queued claim is never empty')
    }
  }

  /** Everything the chain shows equals the model. */
  async check() {
    this.checkModel()
    const { m } = this
    const B = env.d.ticketBroker
    const holders = [P1, P2, R1, R2, X].map(a).concat([B, env.d.paymentChannel])
    const senders = [P1, P2, X].map(a)
    const recipients = [R1, R2, P1].map(a)
    const lanes = [0n, 1n, SEQ_MASK]
    const triples = senders.flatMap((s) => recipients.flatMap((r) => lanes.map((l) => [s, r, l] as const)))
    const [bals, sends, pend, res, nonces, chans] = await Promise.all([
      Promise.all(holders.map((h) => read<bigint>(env, env.d.token, C.SoukTokenAbi, 'balanceOf', [h]))),
      Promise.all(senders.map((s) => read<readonly bigint[]>(env, B, C.TicketBrokerAbi, 'getSender', [s]))),
      Promise.all(senders.map((s) => read<bigint>(env, B, C.TicketBrokerAbi, 'pendingClaims', [s]))),
      Promise.all(senders.flatMap((s) => recipients.map((r) => read<bigint>(env, B, C.TicketBrokerAbi, 'reserveOf', [s, r])))),
      Promise.all(triples.map(([s, r, l]) => read<bigint>(env, B, C.TicketBrokerAbi, 'nextNonce', [s, r, l]))),
      Promise.all(this.opened.map((id) => read<Record<string, unknown>>(env, env.d.paymentChannel, C.PaymentChannelAbi, 'getChannel', [id]))),
    ])
    holders.forEach((h, i) => assert.equal(m.balanceOf(h), bals[i], `balance of ${h}`))
    senders.forEach((s, i) => {
      const x = m.getSender(s)
      assert.deepEqual([x.deposit, x.withdrawBlock, x.debt], [...sends[i]!], `sender ${s}`)
      assert.equal(BigInt(m.pendingClaims(s)), pend[i], `pending claims of ${s}`)
      assert.deepEqual(m.claimQueue(s), this.queues.get(lc(s)) ?? [], `claim queue of ${s}`)
    })
    senders.forEach((s, i) => recipients.forEach((r, j) => assert.equal(m.reserveOf(s, r), res[i * recipients.length + j], `reserve ${s}→${r}`)))
    triples.forEach(([s, r, l], i) => assert.equal(m.nextNonce(s, r, l), nonces[i], `next nonce ${s}→${r} lane ${l}`))
    this.opened.forEach((id, i) => {
      const c = chans[i]!
      const x = m.getChannel(id)
      assert.deepEqual(
        [lc(x.sender), lc(x.recipient), x.deposit, x.paid, x.closingAmount, x.settleBlock],
        [lc(c.sender as string), lc(c.recipient as string), c.deposit, c.paid, c.closingAmount, c.settleBlock], `channel ${id}`,
      )
    })
    assert.equal(m.brokerOwes(), bals[holders.length - 2], 'brokerOwes == broker balance')
    assert.equal(m.channelOwes(), bals[holders.length - 1], 'channelOwes == channel balance')
    for (const r of recipients) {
      const owed = [...this.queues.values()].flat().filter((c) => c.recipient === lc(r)).reduce((t, c) => t + c.amount, 0n)
      assert.equal(m.claimsOwedTo(r), owed, `claims owed to ${r}`)
    }
    assert.deepEqual(m.liveChannels(), this.opened.filter((id) => !this.settled.has(id)), 'live channels, in opening order')
  }
}

const nonceOf = (lane: bigint, seq: bigint) => (lane << LANE_SHIFT) | seq
/** A raw signature of `digest` by `key`, 65 bytes with v 27/28. */
const privateKeyToSign = async (key: Hex, digest: Hex): Promise<Hex> => bytesToHex(signDigest(hexToBytes(digest), hexToBytes(key))) as Hex

/** Each scenario runs twice: on the model alone first (fast, its literal expectations), then beside the chain. */
const scenarios: [string, (d: Diff) => Promise<void>][] = []
function scenario(name: string, f: (d: Diff) => Promise<void>) { scenarios.push([name, f]) }

// ================================================================== broker: funding and withdrawal
scenario('deposits and reserves: zero amounts, the zero recipient and a short balance revert with the contract\'s error; an exact balance is enough', async (d) => {
  assert.deepEqual(await d.fails('TicketBrokerZeroAmount', P1, 'broker', 'fundDeposit', [0n], (m) => m.fundDeposit(a(P1), 0n)), [])
  await d.fails('ERC20InsufficientBalance', P1, 'broker', 'fundDeposit', [START + 1n], (m) => m.fundDeposit(a(P1), START + 1n))
  await d.fails('TicketBrokerZeroAmount', P1, 'broker', 'fundReserve', [ZERO, 0n], (m) => m.fundReserve(a(P1), ZERO, 0n))
  await d.fails('TicketBrokerZeroAddress', P1, 'broker', 'fundReserve', [ZERO, 5n], (m) => m.fundReserve(a(P1), ZERO, 5n))
  await d.deposit(P1, 40n)
  await d.deposit(P1, 2n)
  await d.reserve(P1, a(R1), 10n)
  await d.reserve(P1, a(R2), 3n)
  await d.reserve(P1, a(R1), 1n)
  assert.deepEqual(d.m.getSender(a(P1)), { deposit: 42n, withdrawBlock: 0n, debt: 0n })
  assert.deepEqual([d.m.reserveOf(a(P1), a(R1)), d.m.reserveOf(a(P1), a(R2)), d.m.reserveOf(a(R1), a(P1))], [11n, 3n, 0n])
  assert.equal(d.m.balanceOf(a(P1)), START - 56n)
  assert.equal(d.m.brokerOwes(), 56n)
  // The outsider deposits its whole balance, then has nothing left for a reserve.
  assert.deepEqual((await d.ok(X, 'broker', 'fundDeposit', [START], (m) => m.fundDeposit(a(X), START))).payouts, [])
  assert.equal(d.m.balanceOf(a(X)), 0n)
  assert.deepEqual(norm(await d.fails('ERC20InsufficientBalance', X, 'broker', 'fundReserve', [a(R1), 1n], (m) => m.fundReserve(a(X), a(R1), 1n))), norm([a(X), 0n, 1n]))
  assert.equal(d.m.brokerOwes(), 56n + START)
})

scenario('unlock and withdraw: not before unlock, not one block early, exactly at the withdraw block; the listed reserves only; cancel and restart', async (d) => {
  await d.deposit(P1, 50n)
  await d.reserve(P1, a(R1), 20n)
  await d.reserve(P1, a(R2), 7n)
  assert.deepEqual(norm(await d.fails('TicketBrokerNotUnlocked', P1, 'broker', 'withdraw', [[a(R1)]], (m) => m.withdraw(a(P1), [a(R1)]))), norm([a(P1)]))
  await d.fails('TicketBrokerNotUnlocked', P1, 'broker', 'cancelUnlock', [], (m) => m.cancelUnlock(a(P1)))
  await d.unlock(P1)
  const wb = d.m.block + UNLOCK
  assert.equal(d.m.getSender(a(P1)).withdrawBlock, wb, 'withdraw block = unlock block + unlock period')
  assert.deepEqual(norm(await d.fails('TicketBrokerAlreadyUnlocking', P1, 'broker', 'unlock', [], (m) => m.unlock(a(P1)))), norm([a(P1), wb]))
  await d.execAt(wb - 1n)
  assert.deepEqual(norm(await d.fails('TicketBrokerUnlockPending', P1, 'broker', 'withdraw', [[a(R1)]], (m) => m.withdraw(a(P1), [a(R1)]))), norm([a(P1), wb, wb - 1n]))
  assert.equal(d.exec, wb)
  const { payouts } = await d.ok(P1, 'broker', 'withdraw', [[a(R1)]], (m) => m.withdraw(a(P1), [a(R1)]))
  assert.deepEqual(payouts, [[lc(a(P1)), 70n]], 'deposit + the listed reserve, in one transfer')
  assert.deepEqual(d.m.getSender(a(P1)), { deposit: 0n, withdrawBlock: 0n, debt: 0n })
  assert.equal(d.m.reserveOf(a(P1), a(R2)), 7n, 'an unlisted reserve stays')
  await d.fails('TicketBrokerNotUnlocked', P1, 'broker', 'withdraw', [[a(R2)]], (m) => m.withdraw(a(P1), [a(R2)]))
  await d.unlock(P1)
  await d.cancel(P1)
  assert.equal(d.m.getSender(a(P1)).withdrawBlock, 0n)
  await d.fails('TicketBrokerNotUnlocked', P1, 'broker', 'withdraw', [[a(R2)]], (m) => m.withdraw(a(P1), [a(R2)]))
  await d.unlock(P1)
  await d.mine(UNLOCK)
  assert.deepEqual(norm(await d.fails('TicketBrokerNothingToWithdraw', P1, 'broker', 'withdraw', [[a(R1)]], (m) => m.withdraw(a(P1), [a(R1)]))), norm([a(P1)]))
  assert.deepEqual((await d.withdraw(P1, [a(R2), a(R2)]), d.m.payouts.map((p) => p.amount)), [7n], 'a recipient listed twice is paid out once')
  assert.equal(d.m.brokerOwes(), 0n)
  // Unlocking is per sender: another sender's unlock does not let P1 withdraw.
  await d.deposit(P1, 5n)
  await d.unlock(P2)
  await d.mine(UNLOCK)
  await d.fails('TicketBrokerNotUnlocked', P1, 'broker', 'withdraw', [[]], (m) => m.withdraw(a(P1), []))
})

// ================================================================== broker: redemption
scenario('redemption: each rejection gives the contract\'s error and values and consumes nothing; a winner is paid from the deposit, then the recipient\'s reserve', async (d) => {
  await d.deposit(P1, 30n)
  await d.reserve(P1, a(R1), 15n)
  const good = await d.ticket(P1, a(R1), 10n, 0n, { exp: d.exec + 12n })
  assert.deepEqual(norm(await d.redeemFails('TicketBrokerNotRecipient', X, good)), norm([a(R1), a(X)]))
  assert.deepEqual(norm(await d.redeemFails('TicketBrokerNotRecipient', P1, good)), norm([a(R1), a(P1)]), 'not even the sender may redeem')
  assert.deepEqual(await d.redeemFails('TicketBrokerZeroAddress', R1, await d.ticket(P1, a(R1), 1n, 0n, { sender: ZERO })), [])
  const stale = await d.ticket(P1, a(R1), 10n, 0n, { exp: d.m.block })
  assert.deepEqual(await d.redeemFails('TicketBrokerTicketExpired', R1, stale), [stale.ticket.expirationBlock, stale.ticket.expirationBlock + 1n])
  const wrongRand = { ...good, recipientRand: good.recipientRand + 1n }
  assert.deepEqual(norm(await d.redeemFails('TicketBrokerInvalidRecipientRand', R1, wrongRand)), norm([good.ticket.recipientRandHash, good.recipientRand + 1n]))
  const forged = await signTicket(env.chain.chainId, env.d.ticketBroker, P2, good.ticket, good.recipientRand)
  assert.deepEqual(norm(await d.redeemFails('TicketBrokerInvalidSignature', R1, forged)), norm([a(P1)]))
  await d.redeemFails('TicketBrokerInvalidSignature', R1, { ...good, ...highS(good) })
  await d.redeemFails('TicketBrokerInvalidSignature', R1, { ...good, v: 29 })
  await d.redeemFails('TicketBrokerInvalidSignature', R1, { ...good, ticket: { ...good.ticket, faceValue: 11n } })
  const lose = await d.ticket(P1, a(R1), 10n, 0n, { winProb: 1n })
  assert.deepEqual(await d.redeemFails('TicketBrokerNotWinning', R1, lose), [ticketDraw(lose.r, lose.s, lose.v, lose.recipientRand), 1n])
  await d.redeemFails('TicketBrokerNotWinning', R1, await d.ticket(P1, a(R1), 10n, 0n, { win: false }))
  assert.equal(d.m.nextNonce(a(P1), a(R1)), 0n, 'no rejection consumed the nonce')
  // The good ticket, redeemed in its last valid block, is paid from the deposit.
  await d.execAt(good.ticket.expirationBlock)
  assert.deepEqual(await d.redeemOk(R1, good), [[lc(a(R1)), 10n]])
  assert.deepEqual([d.m.getSender(a(P1)).deposit, d.m.reserveOf(a(P1), a(R1)), d.m.nextNonce(a(P1), a(R1))], [20n, 15n, 1n])
  assert.deepEqual(norm(await d.redeemFails('TicketBrokerNonceUsed', R1, await d.ticket(P1, a(R1), 10n, 0n))), norm([a(P1), a(R1), 0n, 1n]))
  // 25 > deposit 20: 20 from the deposit, 5 from the reserve.
  assert.deepEqual(await d.redeemOk(R1, await d.ticket(P1, a(R1), 25n, 1n)), [[lc(a(R1)), 25n]])
  assert.deepEqual([d.m.getSender(a(P1)).deposit, d.m.reserveOf(a(P1), a(R1))], [0n, 10n])
  // Exactly what is left (reserve 10): paid, not queued.
  assert.deepEqual(await d.redeemOk(R1, await d.ticket(P1, a(R1), 10n, 2n)), [[lc(a(R1)), 10n]])
  assert.deepEqual([d.m.reserveOf(a(P1), a(R1)), d.m.pendingClaims(a(P1))], [0n, 0])
  // Face 0: the nonce moves, nothing is transferred.
  assert.deepEqual(await d.redeemOk(R1, await d.ticket(P1, a(R1), 0n, 3n)), [])
  assert.equal(d.m.nextNonce(a(P1), a(R1)), 4n)
  // R2's reserve is R2's: R1's ticket does not touch it (and goes to a claim).
  await d.reserve(P1, a(R2), 9n)
  assert.deepEqual(await d.redeemOk(R1, await d.ticket(P1, a(R1), 1n, 4n)), [])
  assert.deepEqual([d.m.reserveOf(a(P1), a(R2)), d.m.pendingClaims(a(P1)), d.m.getSender(a(P1)).debt], [9n, 1, 1n])
})

scenario('nonces: per (sender, recipient, lane) high-water marks; a skipped nonce is gone, the next one is fine; lanes up to 2^128 - 1', async (d) => {
  await d.deposit(P1, 100n)
  await d.deposit(P2, 100n)
  await d.redeemOk(R1, await d.ticket(P1, a(R1), 1n, 5n))
  assert.equal(d.m.nextNonce(a(P1), a(R1)), 6n)
  assert.deepEqual(norm(await d.redeemFails('TicketBrokerNonceUsed', R1, await d.ticket(P1, a(R1), 1n, 5n))), norm([a(P1), a(R1), 5n, 6n]))
  await d.redeemFails('TicketBrokerNonceUsed', R1, await d.ticket(P1, a(R1), 1n, 4n))
  await d.redeemOk(R1, await d.ticket(P1, a(R1), 1n, 6n))
  // Other lanes, recipients and senders have their own marks.
  await d.redeemOk(R1, await d.ticket(P1, a(R1), 1n, nonceOf(1n, 0n)))
  assert.equal(d.m.nextNonce(a(P1), a(R1), 1n), nonceOf(1n, 1n))
  assert.equal(d.m.nextNonce(a(P1), a(R1), 0n), 7n)
  await d.redeemOk(R2, await d.ticket(P1, a(R2), 1n, 0n))
  await d.redeemOk(R1, await d.ticket(P2, a(R1), 1n, 0n))
  assert.deepEqual([d.m.nextNonce(a(P1), a(R2)), d.m.nextNonce(a(P2), a(R1)), d.m.nextNonce(a(P2), a(R2))], [1n, 1n, 0n])
  // A ticket in lane 1 with a seq below lane 1's mark is refused with lane 1's next nonce.
  assert.deepEqual(norm(await d.redeemFails('TicketBrokerNonceUsed', R1, await d.ticket(P1, a(R1), 1n, nonceOf(1n, 0n)))), norm([a(P1), a(R1), nonceOf(1n, 0n), nonceOf(1n, 1n)]))
  // The top lane and its top seq: nonce 2^256 - 1 uses up that lane only.
  await d.redeemOk(R1, await d.ticket(P1, a(R1), 1n, MAX_UINT256))
  assert.equal(d.m.nextNonce(a(P1), a(R1), SEQ_MASK), (SEQ_MASK << LANE_SHIFT) | (1n << 128n))
  await d.redeemFails('TicketBrokerNonceUsed', R1, await d.ticket(P1, a(R1), 1n, MAX_UINT256))
  await d.redeemOk(R1, await d.ticket(P1, a(R1), 1n, 7n))
  // Lane 2^128 does not exist: the view reverts on chain and in the model alike.
  if (d.onChain) {
    let chainErr: string | undefined
    try {
      await read(env, env.d.ticketBroker, C.TicketBrokerAbi, 'nextNonce', [a(P1), a(R1), SEQ_MASK + 1n])
    } catch (e) {
      const err = decodeRevert(findRevertData(e), 'nextNonce')
      chainErr = err instanceof ContractRevertError ? `${err.errorName}(${err.args.join(', ')})` : err.message
    }
    assert.equal(chainErr, `TicketBrokerLaneOutOfRange(${SEQ_MASK + 1n})`)
  }
  assert.throws(() => d.m.nextNonce(a(P1), a(R1), SEQ_MASK + 1n), (e: unknown) => e instanceof ModelRevert && e.errorName === 'TicketBrokerLaneOutOfRange' && e.args[0] === SEQ_MASK + 1n)
})

// ================================================================== broker: claims
scenario('claims when funds are short: queued at full face, paid oldest first from new deposits (the head one partly), by reserves\' uncovered part, before any withdrawal', async (d) => {
  await d.redeemOk(R1, await d.ticket(P1, a(R1), 10n, 0n))
  await d.redeemOk(R2, await d.ticket(P1, a(R2), 7n, 0n))
  await d.redeemOk(R1, await d.ticket(P1, a(R1), 5n, 1n))
  assert.deepEqual(d.m.claimQueue(a(P1)), [{ recipient: lc(a(R1)), amount: 10n }, { recipient: lc(a(R2)), amount: 7n }, { recipient: lc(a(R1)), amount: 5n }])
  assert.deepEqual([d.m.pendingClaims(a(P1)), d.m.getSender(a(P1)).debt, d.m.claimsOwedTo(a(R1)), d.m.claimsOwedTo(a(R2))], [3, 22n, 15n, 7n])
  assert.deepEqual((await d.ok(X, 'broker', 'settleClaims', [a(P1)], (m) => m.settleClaims(a(P1)))).payouts, [], 'no deposit: nothing to pay')
  // A deposit of 12 pays the first claim (10) and 2 of the second.
  assert.deepEqual((await d.ok(P1, 'broker', 'fundDeposit', [12n], (m) => m.fundDeposit(a(P1), 12n))).payouts, [[lc(a(R1)), 10n], [lc(a(R2)), 2n]])
  assert.deepEqual([d.m.getSender(a(P1)), d.m.pendingClaims(a(P1))], [{ deposit: 0n, withdrawBlock: 0n, debt: 10n }, 2])
  // A reserve of 4 with 10 uncovered: all 4 go to the claims.
  assert.deepEqual((await d.ok(P1, 'broker', 'fundReserve', [a(R1), 4n], (m) => m.fundReserve(a(P1), a(R1), 4n))).payouts, [[lc(a(R2)), 4n]])
  assert.equal(d.m.reserveOf(a(P1), a(R1)), 0n)
  // A reserve of 20 with 6 uncovered: 6 pay the claims, 14 stay in the reserve.
  assert.deepEqual((await d.ok(P1, 'broker', 'fundReserve', [a(R2), 20n], (m) => m.fundReserve(a(P1), a(R2), 20n))).payouts, [[lc(a(R2)), 1n], [lc(a(R1)), 5n]])
  assert.deepEqual([d.m.getSender(a(P1)), d.m.reserveOf(a(P1), a(R2)), d.m.pendingClaims(a(P1))], [{ deposit: 0n, withdrawBlock: 0n, debt: 0n }, 14n, 0])
  assert.deepEqual(await d.redeemOk(R2, await d.ticket(P1, a(R2), 14n, 1n)), [[lc(a(R2)), 14n]])
  // A claim blocks the withdrawal until a deposit pays it.
  await d.redeemOk(R1, await d.ticket(P1, a(R1), 3n, 2n))
  await d.unlock(P1)
  await d.mine(UNLOCK)
  assert.deepEqual(norm(await d.fails('TicketBrokerClaimsOutstanding', P1, 'broker', 'withdraw', [[a(R1)]], (m) => m.withdraw(a(P1), [a(R1)]))), norm([a(P1), 3n]))
  await d.deposit(P1, 5n)
  assert.deepEqual((await d.ok(P1, 'broker', 'withdraw', [[a(R1), a(R2)]], (m) => m.withdraw(a(P1), [a(R1), a(R2)]))).payouts, [[lc(a(P1)), 2n]])
  assert.equal(d.m.brokerOwes(), 0n)
})

scenario('claims: at most 32 are paid per call; while any is queued the deposit belongs to them, and withdraw pays them first', async (d) => {
  const sts: SignedTicket[] = []
  for (let i = 0n; i < 34n; i++) sts.push(await d.ticket(P2, a(R1), 1n, i))
  assert.deepEqual(await d.batchOk(R1, sts), [])
  assert.equal(d.m.pendingClaims(a(P2)), 34)
  const { payouts } = await d.ok(P2, 'broker', 'fundDeposit', [40n], (m) => m.fundDeposit(a(P2), 40n))
  assert.equal(payouts.length, 32, '32 claims paid in one call')
  assert.deepEqual([d.m.getSender(a(P2)), d.m.pendingClaims(a(P2))], [{ deposit: 8n, withdrawBlock: 0n, debt: 2n }, 2])
  // The deposit (8) would cover 3, but claims are queued: the new winner is a claim too.
  assert.deepEqual(await d.redeemOk(R2, await d.ticket(P2, a(R2), 3n, 0n)), [])
  assert.deepEqual([d.m.pendingClaims(a(P2)), d.m.getSender(a(P2)).debt], [3, 5n])
  // A reserve while the deposit already covers the debt: all of it stays in the reserve; the claims get paid.
  assert.deepEqual((await d.ok(P2, 'broker', 'fundReserve', [a(R2), 2n], (m) => m.fundReserve(a(P2), a(R2), 2n))).payouts, [[lc(a(R1)), 1n], [lc(a(R1)), 1n], [lc(a(R2)), 3n]])
  assert.deepEqual([d.m.getSender(a(P2)), d.m.reserveOf(a(P2), a(R2))], [{ deposit: 3n, withdrawBlock: 0n, debt: 0n }, 2n])
  // 40 more to R1 (no reserve): the deposit pays 3, 37 become claims.
  const more: SignedTicket[] = []
  for (let i = 34n; i < 74n; i++) more.push(await d.ticket(P2, a(R1), 1n, i))
  assert.deepEqual(await d.batchOk(R1, more), [[lc(a(R1)), 3n]], 'one transfer for the paid part of a batch')
  assert.equal(d.m.pendingClaims(a(P2)), 37)
  await d.deposit(P2, 40n)
  assert.deepEqual([d.m.pendingClaims(a(P2)), d.m.getSender(a(P2)).deposit], [5, 8n])
  await d.unlock(P2)
  await d.mine(UNLOCK)
  // withdraw pays the 5 queued claims, then returns the rest of the deposit and R2's reserve.
  const w = await d.ok(P2, 'broker', 'withdraw', [[a(R2)]], (m) => m.withdraw(a(P2), [a(R2)]))
  assert.deepEqual(w.payouts, [...Array(5).fill([lc(a(R1)), 1n]), [lc(a(P2)), 5n]])
  // settleClaims with more than 32 queued pays 32; anyone may call it.
  const third: SignedTicket[] = []
  for (let i = 74n; i < 108n; i++) third.push(await d.ticket(P2, a(R1), 1n, i))
  await d.batchOk(R1, third)
  await d.deposit(P2, 1n)
  assert.equal(d.m.pendingClaims(a(P2)), 33)
  // A reserve of 40 with 33 uncovered: 33 move to the deposit, 32 claims are paid, one stays queued beside a deposit of 1.
  await d.reserve(P2, a(R2), 40n)
  assert.deepEqual([d.m.pendingClaims(a(P2)), d.m.getSender(a(P2)).deposit, d.m.reserveOf(a(P2), a(R2))], [1, 1n, 7n])
  assert.deepEqual((await d.settleClaims(X, a(P2)), d.m.payouts.map((p) => [lc(p.to), p.amount])), [[lc(a(R1)), 1n]], 'anyone may settle a sender\'s claims')
  assert.deepEqual([d.m.pendingClaims(a(P2)), d.m.getSender(a(P2)).deposit], [0, 0n])
})

scenario('batch redemption: empty is a no-op; one bad ticket reverts the whole batch; paid parts go out in one transfer to the caller', async (d) => {
  assert.deepEqual(await d.batchOk(R1, []), [])
  await d.deposit(P1, 10n)
  await d.deposit(P2, 3n)
  const t0 = await d.ticket(P1, a(R1), 4n, 0n)
  const t1 = await d.ticket(P2, a(R1), 5n, 0n)
  const t2 = await d.ticket(P1, a(R1), 6n, 1n)
  const expired = await d.ticket(P1, a(R1), 1n, 2n, { exp: d.m.block })
  await d.batchFails('TicketBrokerTicketExpired', R1, [t0, t1, expired])
  await d.batchFails('TicketBrokerNotRecipient', R1, [t0, await d.ticket(P1, a(R2), 1n, 0n)])
  await d.batchFails('TicketBrokerNonceUsed', R1, [t0, t0])
  await d.batchFails('TicketBrokerNonceUsed', R1, [t2, t0])
  assert.deepEqual([d.m.nextNonce(a(P1), a(R1)), d.m.getSender(a(P1)).deposit], [0n, 10n], 'a reverted batch changes nothing')
  // t1 (5) exceeds P2's 3: a claim; t0 and t2 (10) are paid from P1's deposit, in one transfer.
  assert.deepEqual(await d.batchOk(R1, [t0, t1, t2]), [[lc(a(R1)), 10n]])
  assert.deepEqual([d.m.pendingClaims(a(P2)), d.m.claimsOwedTo(a(R1)), d.m.getSender(a(P1)).deposit], [1, 5n, 0n])
  assert.deepEqual(await d.batchOk(R1, [await d.ticket(P1, a(R1), 0n, 2n), await d.ticket(P1, a(R1), 0n, 3n)]), [], 'face 0 only: no transfer')
  await d.fails('TicketBrokerNotRecipient', X, 'broker', 'batchRedeemWinningTickets', [[ticketArg(t2)]], (m) => m.batchRedeemWinningTickets(a(X), [t2]))
})

// ================================================================== channels
scenario('channels: open, top up and collect, with each rejection\'s error and values; a voucher above the deposit pays up to it', async (d) => {
  const P = 'channel' as const
  await d.fails('PaymentChannelZeroAmount', P1, P, 'open', [a(R1), 0n], (m) => m.open(a(P1), a(R1), 0n))
  await d.fails('PaymentChannelZeroAddress', P1, P, 'open', [ZERO, 5n], (m) => m.open(a(P1), ZERO, 5n))
  await d.fails('ERC20InsufficientBalance', P1, P, 'open', [a(R1), START + 1n], (m) => m.open(a(P1), a(R1), START + 1n))
  const expectedId = d.m.nextChannelId(a(P1), a(R1))
  if (d.onChain) assert.equal(expectedId, await read<Hex>(env, env.d.paymentChannel, C.PaymentChannelAbi, 'nextChannelId', [a(P1), a(R1)]))
  const id = await d.open(P1, a(R1), 30n)
  assert.equal(id, expectedId)
  assert.equal(d.m.openedCount(a(P1)), 1n)
  const id2 = await d.open(P1, a(R1), 5n)
  assert.notEqual(id2, id, 'a second channel to the same recipient has its own id')
  assert.deepEqual(d.m.liveChannels(), [id, id2])
  const unknown = `0x${'ee'.repeat(32)}` as Hex
  await d.fails('PaymentChannelZeroAmount', P1, P, 'topUp', [id, 0n], (m) => m.topUp(a(P1), id, 0n))
  assert.deepEqual(await d.fails('PaymentChannelUnknown', P1, P, 'topUp', [unknown, 1n], (m) => m.topUp(a(P1), unknown, 1n)), [unknown])
  assert.deepEqual(norm(await d.fails('PaymentChannelNotSender', R1, P, 'topUp', [id, 1n], (m) => m.topUp(a(R1), id, 1n))), norm([id, a(R1)]))
  assert.deepEqual((await d.ok(P1, P, 'topUp', [id, 10n], (m) => m.topUp(a(P1), id, 10n))).payouts, [])
  assert.equal(d.m.getChannel(id).deposit, 40n)
  const v12 = await d.voucher(P1, id, 12n)
  assert.deepEqual(norm(await d.fails('PaymentChannelNotRecipient', P1, P, 'collect', [id, 12n, v12], (m) => m.collect(a(P1), id, 12n, v12))), norm([id, a(P1)]))
  await d.fails('PaymentChannelUnknown', R1, P, 'collect', [unknown, 12n, v12], (m) => m.collect(a(R1), unknown, 12n, v12))
  const forged = await d.voucher(P2, id, 12n)
  assert.deepEqual(await d.fails('PaymentChannelInvalidVoucher', R1, P, 'collect', [id, 12n, forged], (m) => m.collect(a(R1), id, 12n, forged)), [id])
  for (const bad of [compactSignature(splitSignature(v12)), joinSignature(highS(splitSignature(v12))), '0x' as Hex, await d.voucher(P1, id2, 12n)]) {
    await d.fails('PaymentChannelInvalidVoucher', R1, P, 'collect', [id, 12n, bad], (m) => m.collect(a(R1), id, 12n, bad))
  }
  await d.fails('PaymentChannelInvalidVoucher', R1, P, 'collect', [id, 13n, v12], (m) => m.collect(a(R1), id, 13n, v12))
  assert.deepEqual((await d.ok(R1, P, 'collect', [id, 12n, v12], (m) => m.collect(a(R1), id, 12n, v12))).payouts, [[lc(a(R1)), 12n]])
  assert.deepEqual((await d.ok(R1, P, 'collect', [id, 12n, v12], (m) => m.collect(a(R1), id, 12n, v12))).payouts, [], 'the same voucher again pays nothing')
  const v8 = await d.voucher(P1, id, 8n)
  assert.deepEqual((await d.ok(R1, P, 'collect', [id, 8n, v8], (m) => m.collect(a(R1), id, 8n, v8))).payouts, [], 'an older voucher pays nothing')
  assert.equal(d.m.getChannel(id).paid, 12n, 'and does not lower what was paid')
  const v50 = await d.voucher(P1, id, 50n)
  assert.deepEqual((await d.ok(R1, P, 'collect', [id, 50n, v50], (m) => m.collect(a(R1), id, 50n, v50))).payouts, [[lc(a(R1)), 28n]])
  assert.deepEqual(d.m.getChannel(id), { sender: lc(a(P1)), recipient: lc(a(R1)), deposit: 40n, paid: 40n, closingAmount: 0n, settleBlock: 0n })
  assert.equal(d.m.channelOwes(), 5n)
})

scenario('channels: close by the sender, challenge until one block before the settle block, settle from it; close by the recipient', async (d) => {
  const P = 'channel' as const
  const unknown = `0x${'ee'.repeat(32)}` as Hex
  const id = await d.open(P1, a(R1), 10n)
  await d.fails('PaymentChannelNotClosing', X, P, 'challenge', [id, 1n, '0x'], (m) => m.challenge(id, 1n, '0x'))
  assert.deepEqual(await d.fails('PaymentChannelNotClosing', X, P, 'settle', [id], (m) => m.settle(id)), [id])
  await d.fails('PaymentChannelUnknown', X, P, 'settle', [unknown], (m) => m.settle(unknown))
  await d.fails('PaymentChannelUnknown', X, P, 'challenge', [unknown, 1n, '0x'], (m) => m.challenge(unknown, 1n, '0x'))
  await d.fails('PaymentChannelUnknown', P1, P, 'startClose', [unknown], (m) => m.startClose(a(P1), unknown))
  assert.deepEqual(norm(await d.fails('PaymentChannelNotSender', R1, P, 'startClose', [id], (m) => m.startClose(a(R1), id))), norm([id, a(R1)]))
  const v2 = await d.voucher(P1, id, 2n)
  await d.collect(R1, id, 2n, v2)
  await d.startClose(P1, id)
  const sb = d.m.block + SETTLE
  assert.deepEqual([d.m.getChannel(id).settleBlock, d.m.getChannel(id).closingAmount], [sb, 2n])
  assert.deepEqual(norm(await d.fails('PaymentChannelAlreadyClosing', P1, P, 'startClose', [id], (m) => m.startClose(a(P1), id))), norm([id, sb]))
  await d.fails('PaymentChannelAlreadyClosing', P1, P, 'topUp', [id, 1n], (m) => m.topUp(a(P1), id, 1n))
  await d.fails('PaymentChannelAlreadyClosing', R1, P, 'collect', [id, 2n, v2], (m) => m.collect(a(R1), id, 2n, v2))
  const v4 = await d.voucher(P1, id, 4n)
  const v3 = await d.voucher(P1, id, 3n)
  await d.challenge(X, id, 4n, v4)
  await d.challenge(X, id, 3n, v3)
  assert.equal(d.m.getChannel(id).closingAmount, 4n, 'a lower voucher does not lower the closing amount')
  await d.fails('PaymentChannelInvalidVoucher', X, P, 'challenge', [id, 9n, v4], (m) => m.challenge(id, 9n, v4))
  const early = d.exec
  assert.deepEqual(await d.fails('PaymentChannelSettlePending', X, P, 'settle', [id], (m) => m.settle(id)), [id, sb, early])
  await d.execAt(sb - 1n)
  const v6 = await d.voucher(P1, id, 6n)
  await d.challenge(X, id, 6n, v6)
  assert.equal(d.exec, sb)
  assert.deepEqual((await d.ok(X, P, 'settle', [id], (m) => m.settle(id))).payouts, [[lc(a(R1)), 4n], [lc(a(P1)), 4n]], 'recipient: 6 - 2 already paid; sender: the rest')
  assert.deepEqual(d.m.getChannel(id), { sender: ZERO, recipient: ZERO, deposit: 0n, paid: 0n, closingAmount: 0n, settleBlock: 0n })
  await d.fails('PaymentChannelUnknown', X, P, 'settle', [id], (m) => m.settle(id))
  // A challenge in the settle block itself is too late.
  const id3 = await d.open(P2, a(R2), 6n)
  await d.startClose(P2, id3)
  const sb3 = d.m.block + SETTLE
  await d.execAt(sb3)
  const w = await d.voucher(P2, id3, 1n)
  assert.deepEqual(await d.fails('PaymentChannelSettlePending', X, P, 'challenge', [id3, 1n, w], (m) => m.challenge(id3, 1n, w)), [id3, sb3, sb3])
  assert.deepEqual((await d.ok(R2, P, 'settle', [id3], (m) => m.settle(id3))).payouts, [[lc(a(P2)), 6n]], 'nothing signed: all back to the sender')
  // Close by the recipient: at what was already paid (no voucher needed), at the closing amount, or at a new voucher capped by the deposit.
  const c4 = await d.open(P2, a(R2), 20n)
  await d.fails('PaymentChannelNotRecipient', P2, P, 'closeByRecipient', [c4, 0n, '0x'], (m) => m.closeByRecipient(a(P2), c4, 0n, '0x'))
  await d.fails('PaymentChannelUnknown', R2, P, 'closeByRecipient', [unknown, 0n, '0x'], (m) => m.closeByRecipient(a(R2), unknown, 0n, '0x'))
  await d.collect(R2, c4, 5n, await d.voucher(P2, c4, 5n))
  assert.deepEqual((await d.ok(R2, P, 'closeByRecipient', [c4, 5n, '0x'], (m) => m.closeByRecipient(a(R2), c4, 5n, '0x'))).payouts, [[lc(a(P2)), 15n]])
  const c5 = await d.open(P2, a(R2), 20n)
  await d.startClose(P2, c5)
  await d.challenge(X, c5, 6n, await d.voucher(P2, c5, 6n))
  assert.deepEqual((await d.ok(R2, P, 'closeByRecipient', [c5, 6n, '0x'], (m) => m.closeByRecipient(a(R2), c5, 6n, '0x'))).payouts, [[lc(a(R2)), 6n], [lc(a(P2)), 14n]])
  const c6 = await d.open(P2, a(R2), 10n)
  await d.fails('PaymentChannelInvalidVoucher', R2, P, 'closeByRecipient', [c6, 7n, '0x'], (m) => m.closeByRecipient(a(R2), c6, 7n, '0x'))
  const v25 = await d.voucher(P2, c6, 25n)
  assert.deepEqual((await d.ok(R2, P, 'closeByRecipient', [c6, 25n, v25], (m) => m.closeByRecipient(a(R2), c6, 25n, v25))).payouts, [[lc(a(R2)), 10n]])
  assert.deepEqual(d.m.liveChannels(), [])
})

// ================================================================== random short scenarios, side by side
type Cmd =
  | { t: 'deposit' | 'unlock' | 'cancel' | 'settleClaims'; who: number; amt: number }
  | { t: 'reserve'; who: number; to: number; amt: number }
  | { t: 'withdraw'; who: number; mask: number }
  | { t: 'redeem'; payer: number; payee: number; face: number; skip: number; win: boolean; by: number }
  | { t: 'mine'; n: number }
  | { t: 'open'; payer: number; payee: number; amt: number }
  | { t: 'collect' | 'closeByRecipient' | 'challenge' | 'startClose' | 'settle' | 'topUp'; ch: number; amt: number }
const small = fc.integer({ min: 0, max: 40 })
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constantFrom('deposit' as const, 'unlock' as const, 'cancel' as const, 'settleClaims' as const), who: fc.nat(2), amt: small }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('reserve' as const), who: fc.nat(2), to: fc.nat(2), amt: small }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('withdraw' as const), who: fc.nat(2), mask: fc.nat(3) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('redeem' as const), payer: fc.nat(1), payee: fc.nat(1), face: small, skip: fc.nat(2), win: fc.boolean(), by: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('mine' as const), n: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('open' as const), payer: fc.nat(1), payee: fc.nat(1), amt: small }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constantFrom('collect' as const, 'closeByRecipient' as const, 'challenge' as const, 'startClose' as const, 'settle' as const, 'topUp' as const), ch: fc.nat(7), amt: small }) },
)

async function runCmd(d: Diff, c: Cmd) {
  const payers = [P1, P2, X]
  const payees = [R1, R2]
  switch (c.t) {
    case 'deposit': return d.deposit(payers[c.who]!, BigInt(c.amt))
    case 'unlock': return d.unlock(payers[c.who]!)
    case 'cancel': return d.cancel(payers[c.who]!)
    case 'settleClaims': return d.settleClaims(R1, a(payers[c.who]!))
    case 'reserve': return d.reserve(payers[c.who]!, c.to === 2 ? ZERO : a(payees[c.to]!), BigInt(c.amt))
    case 'withdraw': return d.withdraw(payers[c.who]!, payees.filter((_, i) => c.mask & (1 << i)).map(a))
    case 'redeem': {
      const from = payers[c.payer]!
      const to = a(payees[c.payee]!)
      const st = await d.ticket(from, to, BigInt(c.face), d.m.nextNonce(a(from), to) + BigInt(c.skip), { win: c.win })
      return d.redeem([payees[c.payee]!, from, X][c.by]!, st)
    }
    case 'mine': return d.mine(c.n)
    case 'open': return d.tx(payers[c.payer]!, 'channel', 'open', [a(payees[c.payee]!), BigInt(c.amt)], (m) => m.open(a(payers[c.payer]!), a(payees[c.payee]!), BigInt(c.amt)))
    default: {
      if (d.opened.length === 0) return d.mine(1)
      const id = d.opened[c.ch % d.opened.length]!
      const ch = d.m.getChannel(id)
      const senderKey = [P1, P2].find((k) => lc(a(k)) === lc(ch.sender)) ?? P1
      const recipientKey = [R1, R2].find((k) => lc(a(k)) === lc(ch.recipient)) ?? R1
      const amt = ch.paid + BigInt(c.amt)
      const sig = await d.voucher(senderKey, id, amt)
      if (c.t === 'collect') return d.collect(recipientKey, id, amt, sig)
      if (c.t === 'closeByRecipient') return d.closeByRecipient(recipientKey, id, amt, sig)
      if (c.t === 'challenge') return d.challenge(X, id, amt, sig)
      if (c.t === 'startClose') return d.startClose(senderKey, id)
      if (c.t === 'topUp') return d.topUp(senderKey, id, BigInt(c.amt))
      return d.settle(X, id)
    }
  }
}

// ================================================================== the model alone: what the chain cannot show
test('model alone: views of a sender, pair, lane or channel never touched are zero, and lanes stop at 2^128 - 1', () => {
  const m = base.clone()
  const [s, r] = [a(P1), a(R1)]
  assert.deepEqual(m.getSender(s), { deposit: 0n, withdrawBlock: 0n, debt: 0n })
  assert.deepEqual([m.reserveOf(s, r), m.nextNonce(s, r), m.nextNonce(s, r, 3n), m.nextNonce(s, r, SEQ_MASK)], [0n, 0n, 3n << 128n, SEQ_MASK << 128n])
  assert.deepEqual([m.pendingClaims(s), m.claimQueue(s), m.brokerOwes(), m.claimsOwedTo(r), m.balanceOf(r), m.openedCount(s)], [0, [], 0n, 0n, 0n, 0n])
  assert.deepEqual(m.getChannel(`0x${'11'.repeat(32)}`), { sender: ZERO, recipient: ZERO, deposit: 0n, paid: 0n, closingAmount: 0n, settleBlock: 0n })
  assert.deepEqual([m.liveChannels(), m.channelOwes(), m.payouts], [[], 0n, []])
  assert.throws(() => m.nextNonce(s, r, SEQ_MASK + 1n), (e: unknown) => e instanceof ModelRevert && e.errorName === 'TicketBrokerLaneOutOfRange' && e.args.length === 1 && e.args[0] === SEQ_MASK + 1n)
})

test('model alone: a ModelRevert names the error and its values; views hand out copies; clone() is independent both ways', async () => {
  const e = new ModelRevert('TicketBrokerNonceUsed', [1n, '0xab'])
  assert.equal(e.message, 'model revert TicketBrokerNonceUsed(1, 0xab)')
  assert.ok(e instanceof Error)
  assert.deepEqual([new ModelRevert('TicketBrokerZeroAmount').args, new ModelRevert('TicketBrokerZeroAmount').message], [[], 'model revert TicketBrokerZeroAmount()'])
  const m = base.clone()
  assert.deepEqual([m.block, m.p], [base.block, base.p])
  m.fundDeposit(a(P1), 10n)
  m.getSender(a(P1)).deposit = 999n
  assert.equal(m.getSender(a(P1)).deposit, 10n, 'getSender returns a copy')
  const st = await Diff.modelOnly().ticket(P1, a(R1), 30n, 0n)
  await m.redeemWinningTicket(a(R1), st)
  m.claimQueue(a(P1))[0]!.amount = 1n
  assert.deepEqual(m.claimQueue(a(P1)), [{ recipient: lc(a(R1)), amount: 30n }], 'claimQueue returns copies')
  const id = m.open(a(P2), a(R2), 7n)
  m.getChannel(id).paid = 7n
  assert.equal(m.getChannel(id).paid, 0n, 'getChannel returns a copy')
  const c = m.clone()
  assert.equal(c.block, m.block)
  c.block += 5n
  c.fundDeposit(a(P1), 5n)
  c.mint(a(R2), 1n)
  await c.collect(a(R2), id, 3n, await signVoucher(env.chain.chainId, env.d.paymentChannel, P2, id, 3n))
  assert.deepEqual([m.block, m.getSender(a(P1)), m.balanceOf(a(R2)), m.getChannel(id).paid], [base.block, { deposit: 10n, withdrawBlock: 0n, debt: 30n }, 0n, 0n], 'the original is untouched')
  assert.deepEqual([c.getSender(a(P1)), c.balanceOf(a(R2)), c.getChannel(id).paid, c.pendingClaims(a(P1))], [{ deposit: 0n, withdrawBlock: 0n, debt: 15n }, 4n, 3n, 1])
  m.mint(a(X), 1n)
  assert.equal(c.balanceOf(a(X)), START, 'and the copy does not see later changes to the original')
})

test('model alone: addresses compare case-insensitively; brokerOwes, claimsOwedTo and channelOwes sum over every sender and channel', async () => {
  const m = base.clone()
  const upper = (x: Address) => `0x${x.slice(2).toUpperCase()}` as Address
  m.mint(upper(a(R1)), 4n)
  assert.equal(m.balanceOf(lc(a(R1)) as Address), 4n)
  m.fundDeposit(upper(a(P1)), 10n)
  m.fundReserve(a(P1), upper(a(R1)), 3n)
  m.fundDeposit(a(P2), 20n)
  m.fundReserve(a(P2), a(R2), 5n)
  assert.deepEqual([m.getSender(a(P1)).deposit, m.reserveOf(upper(a(P1)), lc(a(R1)) as Address)], [10n, 3n])
  assert.equal(m.brokerOwes(), 38n)
  assert.equal(m.balanceOf(env.d.ticketBroker), 38n)
  const d = Diff.modelOnly()
  await m.redeemWinningTicket(a(R1), await d.ticket(P2, a(R1), 30n, 0n))
  await m.redeemWinningTicket(a(R2), await d.ticket(P1, a(R2), 11n, 0n))
  await m.redeemWinningTicket(a(R1), await d.ticket(P1, a(R1), 9n, 1n))
  assert.deepEqual([m.claimsOwedTo(a(R1)), m.claimsOwedTo(upper(a(R2))), m.claimsOwedTo(a(X))], [39n, 11n, 0n])
  assert.equal(m.brokerOwes(), 38n, 'queued claims are not paid yet')
  const c1 = m.open(a(P1), a(R1), 10n)
  const c2 = m.open(a(P2), a(R2), 6n)
  await m.collect(a(R1), c1, 4n, await signVoucher(env.chain.chainId, env.d.paymentChannel, P1, c1, 4n))
  assert.equal(m.channelOwes(), 12n)
  assert.deepEqual(m.liveChannels(), [c1, c2])
  m.startClose(a(P2), c2)
  m.block += SETTLE
  m.settle(c2)
  assert.deepEqual([m.liveChannels(), m.channelOwes()], [[c1], 6n])
})

test('model alone: signatures follow OpenZeppelin ECDSA: low s up to n/2 inclusive, v 27 or 28, r and s non-zero, the signer named', async () => {
  const digest = keccak256(toHex('souk model signature rules'))
  const sig = splitSignature(await privateKeyToSign(P1, digest))
  assert.equal(await validSigner(digest, sig.r, sig.s, sig.v, a(P1)), true)
  assert.equal(await validSigner(digest, sig.r, sig.s, sig.v, lc(a(P1)) as Address), true)
  assert.equal(await validSigner(digest, sig.r, sig.s, sig.v, a(P2)), false)
  for (const v of [0, 1, 26, 29]) assert.equal(await validSigner(digest, sig.r, sig.s, v, a(P1)), false, `v = ${v}`)
  const hi = highS(sig)
  assert.equal(await validSigner(digest, hi.r, hi.s, hi.v, a(P1)), false, 'the high-s twin is refused')
  // s = n/2 is the largest accepted s: whoever it recovers to is the signer; s = n/2 + 1 is refused whatever it recovers to.
  for (const [s, ok] of [[HALF_N, true], [HALF_N + 1n, false]] as const) {
    const sh = numberToHex(s, { size: 32 })
    const who = await recoverAddress({ hash: digest, signature: { r: sig.r, s: sh, v: 27n } })
    assert.equal(await validSigner(digest, sig.r, sh, 27, who), ok, `s = n/2${ok ? '' : ' + 1'}`)
  }
  const zero = numberToHex(0n, { size: 32 })
  assert.equal(await validSigner(digest, zero, sig.s, sig.v, a(P1)), false, 'r = 0')
  assert.equal(await validSigner(digest, sig.r, zero, sig.v, a(P1)), false, 's = 0')
  assert.equal(await validSigner(digest, numberToHex(SECP256K1_N, { size: 32 }), sig.s, sig.v, a(P1)), false, 'r = n')
  assert.equal(await validSigner(digest, `0x${'ff'.repeat(32)}`, sig.s, sig.v, a(P1)), false, 'r above n')
  assert.equal(await validSigner(digest, numberToHex(SECP256K1_N - 1n, { size: 32 }), sig.s, sig.v, a(P1)), false, 'r below n but no point on the curve: recovery fails, false')
})

test('model alone: the 0x address and the zero sender are refused before anything moves', async () => {
  const m = base.clone()
  assert.throws(() => m.fundReserve(a(P1), ZERO, 1n), (e: unknown) => e instanceof ModelRevert && e.errorName === 'TicketBrokerZeroAddress')
  assert.throws(() => m.open(a(P1), ZERO, 1n), (e: unknown) => e instanceof ModelRevert && e.errorName === 'PaymentChannelZeroAddress')
  assert.equal(m.balanceOf(a(P1)), START)
})

test('model alone: payouts are those of the last call only; a reserve tops up only the uncovered part of the debt; deposit and reserve equal still withdraw', async () => {
  const m = base.clone()
  const d = Diff.modelOnly()
  m.fundDeposit(a(P1), 10n)
  await m.redeemWinningTicket(a(R1), await d.ticket(P1, a(R1), 4n, 0n))
  assert.deepEqual(m.payouts, [{ from: lc(env.d.ticketBroker), to: lc(a(R1)), amount: 4n }])
  m.fundDeposit(a(P1), 1n)
  assert.deepEqual(m.payouts, [], 'a call that pays nothing leaves no payouts from the one before')
  // 34 claims, a deposit of 33: 32 are paid, 1 token stays beside a debt of 2.
  const sts: SignedTicket[] = []
  for (let i = 0n; i < 34n; i++) sts.push(await d.ticket(P2, a(R1), 1n, i))
  await m.batchRedeemWinningTickets(a(R1), sts)
  m.fundDeposit(a(P2), 33n)
  assert.deepEqual(m.getSender(a(P2)), { deposit: 1n, withdrawBlock: 0n, debt: 2n })
  // A reserve of 5: only the uncovered 1 moves to the deposit; both claims are paid; 4 stay in the reserve.
  m.fundReserve(a(P2), a(R2), 5n)
  assert.deepEqual([m.getSender(a(P2)), m.reserveOf(a(P2), a(R2)), m.payouts.length], [{ deposit: 0n, withdrawBlock: 0n, debt: 0n }, 4n, 2])
  // Deposit 4 and reserve 4: withdraw returns 8.
  m.fundDeposit(a(P2), 4n)
  m.unlock(a(P2))
  m.block += UNLOCK + 1n
  m.withdraw(a(P2), [a(R2)])
  assert.deepEqual(m.payouts, [{ from: lc(env.d.ticketBroker), to: lc(a(P2)), amount: 8n }])
})

for (const [name, f] of scenarios) test(`model alone: ${name}`, () => f(Diff.modelOnly()))
for (const [name, f] of scenarios) test(`model and contracts side by side: ${name}`, async () => f(await Diff.onChain()))

test('model and contracts side by side: short random call sequences (fast-check, fixed seed) agree call for call', async () => {
  let runs = 0
  await fc.assert(
    fc.asyncProperty(fc.array(cmdArb, { minLength: 14, maxLength: 14 }), async (cmds) => {
      const d = await Diff.onChain()
      d.loose = true
      for (const c of cmds) await runCmd(d, c)
      runs++
    }),
    { numRuns: 5, seed: 8, endOnFailure: true },
  )
  assert.equal(runs, 5)
})
