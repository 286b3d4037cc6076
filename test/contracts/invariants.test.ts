/**
 * Property tests of TicketBroker and PaymentChannel: fast-check drives random call sequences from 3 payers,
 * 3 payees and an outsider through the embedded EVM and, after EVERY step, compares the chain with the
 * reference model (model.ts):
 *  - the call reverts iff the model says so, with the same custom error name, and then changes nothing;
 *  - every token balance, every sender record, reserve, next nonce, claim count and channel equals the model;
 *  - I1: broker balance == Σ deposit + Σ reserve (read from the chain); C1: channel balance == Σ (deposit - paid);
 *  - I2: no (sender, recipient, nonce) is redeemed twice (from the contract's events);
 *  - I3: per payee, tokens received from the broker + unpaid claims == Σ face of its accepted winning tickets;
 *  - C2: per channel, the recipient never gets more than the largest voucher the sender signed;
 *  - the tokens leaving a contract (Transfer events) are exactly the payouts the model predicts, in order.
 * Runs reset the chain with evm snapshots. SOUK_TEST_SCALE=nightly runs 10x the steps.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { parseEventLogs, type Address, type Hex, type TransactionReceipt } from 'viem'
import * as C from '../../artifacts/contracts.js'
import { ContractRevertError } from '../../src/chain/index.js'
import {
  MAX_UINT256, highS, joinSignature, randHash, splitSignature, read, send, setupSouk, signTicket, signTicketWithOutcome, signVoucher, ticketArg, transferLogs,
  type SendParams, type SignedTicket, type SoukEnv,
} from './helpers.js'
import { ModelRevert, SoukModel, type ChannelState } from './model.js'

const NIGHTLY = process.env.SOUK_TEST_SCALE === 'nightly'
const RUNS = 20
const STEPS = NIGHTLY ? 1000 : 100
const UNLOCK = 20n
const SETTLE = 25n
const START_TOKENS = 3000n
const ZERO: Address = '0x0000000000000000000000000000000000000000'

// ------------------------------------------------------------------ commands
type TicketKind = 'win' | 'lose' | 'expired' | 'replay' | 'forged' | 'wrongRand' | 'staleNonce' | 'highS'
type VoucherPick = 'new' | 'latest' | 'older' | 'forged' | 'over' | 'none' | 'highS'
type Cmd =
  | { t: 'fundDeposit'; who: number; amt: number; over: boolean }
  | { t: 'fundReserve'; who: number; payee: number; amt: number }
  | { t: 'unlock'; who: number }
  | { t: 'cancelUnlock'; who: number }
  | { t: 'withdraw'; who: number; mask: number }
  | { t: 'redeem'; payer: number; payee: number; kind: TicketKind; face: number; skip: number; half: boolean; exp: number; forger: number }
  | { t: 'batch'; payee: number; payers: number[]; face: number; badAt: number; bad: TicketKind | 'mixed' | 'dupNonce' }
  | { t: 'settleClaims'; caller: number; payer: number }
  | { t: 'mine'; n: number }
  | { t: 'open'; payer: number; payee: number; amt: number; wrongTo: boolean }
  | { t: 'topUp'; ch: number; amt: number; caller: number }
  | { t: 'collect'; ch: number; pick: VoucherPick; inc: number; caller: number }
  | { t: 'closeByRecipient'; ch: number; pick: VoucherPick; inc: number; caller: number }
  | { t: 'startClose'; ch: number; caller: number }
  | { t: 'challenge'; ch: number; pick: VoucherPick; inc: number; caller: number }
  | { t: 'settle'; ch: number; caller: number }

const who = fc.integer({ min: 0, max: 3 }) // 3 = outsider
const p3 = fc.integer({ min: 0, max: 2 })
const amt = fc.integer({ min: 1, max: 60 })
const ticketKind = fc.constantFrom<TicketKind>('win', 'win', 'win', 'win', 'lose', 'expired', 'replay', 'forged', 'wrongRand', 'staleNonce', 'highS')
const pick = fc.constantFrom<VoucherPick>('new', 'new', 'new', 'latest', 'older', 'forged', 'over', 'none', 'highS')
const anyone = fc.integer({ min: 0, max: 6 }) // 0-2 payers, 3-5 payees, 6 outsider
const chIdx = fc.integer({ min: 0, max: 1000 })

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('fundDeposit' as const), who, amt: fc.oneof({ weight: 4, arbitrary: amt }, { weight: 1, arbitrary: fc.integer({ min: 200, max: 900 }) }), over: fc.integer({ min: 0, max: 19 }).map((x) => x === 0) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('fundReserve' as const), who, payee: fc.integer({ min: 0, max: 3 }), amt }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('unlock' as const), who }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('cancelUnlock' as const), who }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('withdraw' as const), who, mask: fc.integer({ min: 0, max: 7 }) }) },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant('redeem' as const), payer: p3, payee: p3, kind: ticketKind, face: fc.integer({ min: 0, max: 40 }),
      skip: fc.integer({ min: 0, max: 3 }), half: fc.boolean(), exp: fc.integer({ min: 0, max: 30 }), forger: fc.integer({ min: 0, max: 6 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('batch' as const), payee: p3,
      payers: fc.oneof(fc.array(p3, { minLength: 1, maxLength: 5 }), fc.array(p3, { minLength: 33, maxLength: 40 }).map((a) => a.map(() => a[0]!))),
      face: fc.integer({ min: 1, max: 12 }), badAt: fc.integer({ min: -8, max: 39 }),
      bad: fc.constantFrom<TicketKind | 'mixed' | 'dupNonce'>('lose', 'expired', 'forged', 'wrongRand', 'highS', 'mixed', 'dupNonce'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('settleClaims' as const), caller: anyone, payer: who }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('mine' as const), n: fc.integer({ min: 1, max: 25 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('open' as const), payer: p3, payee: p3, amt, wrongTo: fc.integer({ min: 0, max: 19 }).map((x) => x === 0) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('topUp' as const), ch: chIdx, amt, caller: anyone }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('collect' as const), ch: chIdx, pick, inc: fc.integer({ min: 0, max: 30 }), caller: anyone }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('closeByRecipient' as const), ch: chIdx, pick, inc: fc.integer({ min: 0, max: 30 }), caller: anyone }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('startClose' as const), ch: chIdx, caller: anyone }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('challenge' as const), ch: chIdx, pick, inc: fc.integer({ min: 0, max: 30 }), caller: anyone }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('settle' as const), ch: chIdx, caller: anyone }) },
)

// ------------------------------------------------------------------ harness
interface Actors { payers: Hex[]; payees: Hex[]; outsider: Hex; all: Hex[] }

class Run {
  model: SoukModel
  readonly redeemed = new Map<string, SignedTicket[]>()
  readonly redeemedNonces = new Set<string>()
  readonly winningFace = new Map<string, bigint>()
  readonly brokerPaid = new Map<string, bigint>()
  readonly channels: Hex[] = [] // every channel ever opened, in order
  readonly touched = new Set<Hex>()
  readonly vouchers = new Map<Hex, { amount: bigint; sig: Hex }[]>()
  readonly maxSigned = new Map<Hex, bigint>()
  readonly channelPaid = new Map<Hex, bigint>()
  readonly stats = { steps: 0, ok: 0, okBy: new Map<string, number>(), reverts: new Map<string, number>() }
  private randCounter = 0n

  constructor(readonly env: SoukEnv, readonly a: Actors, base: SoukModel, readonly runId: number) {
    this.model = base.clone()
  }

  get broker() { return this.env.d.ticketBroker }
  get channel() { return this.env.d.paymentChannel }
  addr(k: Hex) { return this.env.addr(k) }
  nextRand() { return (BigInt(this.runId) << 128n) + ++this.randCounter }
  senderKey(i: number) { return i === 3 ? this.a.outsider : this.a.payers[i]! }
  anyKey(i: number) { return this.a.all[i]! }

  /** Applies `modelOp` to a copy of the model and sends `p`; checks both agree, then everything else. */
  async step(key: Hex, p: SendParams, modelOp: (m: SoukModel) => unknown, onOk?: (r: TransactionReceipt) => void) {
    this.stats.steps++
    const next = this.model.clone()
    let expected: ModelRevert | undefined
    try {
      await modelOp(next)
    } catch (e) {
      if (!(e instanceof ModelRevert)) throw e
      expected = e
    }
    let actual: ContractRevertError | undefined
    let receipt: TransactionReceipt | undefined
    try {
      receipt = await send(this.env, key, p)
    } catch (e) {
      if (!(e instanceof ContractRevertError)) throw e
      actual = e
    }
    const what = `${p.functionName}(${(p.args ?? []).map((x) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))).join(', ')})`
    if (expected) {
      assert.ok(actual, `model expected ${expected.errorName} but the chain accepted ${what}`)
      assert.equal(actual.errorName, expected.errorName, `wrong revert for ${what}`)
      this.stats.reverts.set(actual.errorName, (this.stats.reverts.get(actual.errorName) ?? 0) + 1)
    } else {
      assert.ok(!actual, `chain reverted ${actual?.errorName}(${actual?.args.map(String).join(', ')}) but the model accepted ${what}`)
      this.stats.ok++
      this.stats.okBy.set(p.functionName, (this.stats.okBy.get(p.functionName) ?? 0) + 1)
      this.model = next
      this.checkLogs(receipt!)
      onOk?.(receipt!)
    }
    this.model.block = await this.env.chain.blockNumber()
    await this.checkState()
  }

  /** Transfers out of the contracts equal the model's payouts; redemption events never repeat a nonce. */
  private checkLogs(r: TransactionReceipt) {
    const out = transferLogs(r.logs, this.env.d.token)
      .filter((t) => t.from.toLowerCase() === this.broker.toLowerCase() || t.from.toLowerCase() === this.channel.toLowerCase())
      .map((t) => ({ from: t.from.toLowerCase(), to: t.to.toLowerCase(), amount: t.value }))
    assert.deepEqual(out, this.model.payouts.map((x) => ({ from: x.from, to: x.to.toLowerCase(), amount: x.amount })), 'payouts differ from the model')
    for (const t of out) if (t.from === this.broker.toLowerCase()) this.brokerPaid.set(t.to, (this.brokerPaid.get(t.to) ?? 0n) + t.amount)
    const evs = parseEventLogs({ abi: C.TicketBrokerAbi, logs: r.logs.filter((l) => l.address.toLowerCase() === this.broker.toLowerCase()) })
    for (const e of evs) {
      if (e.eventName !== 'WinningTicketRedeemed' && e.eventName !== 'ClaimQueued') continue
      const args = e.args as { sender: Address; recipient: Address; faceValue: bigint; senderNonce: bigint }
      const k = `${args.sender}|${args.recipient}|${args.senderNonce}`.toLowerCase()
      assert.ok(!this.redeemedNonces.has(k), `I2 violated: ${k} redeemed twice`)
      this.redeemedNonces.add(k)
      const rk = args.recipient.toLowerCase()
      this.winningFace.set(rk, (this.winningFace.get(rk) ?? 0n) + args.faceValue)
    }
    const cevs = parseEventLogs({ abi: C.PaymentChannelAbi, logs: r.logs.filter((l) => l.address.toLowerCase() === this.channel.toLowerCase()) })
    for (const e of cevs) {
      if (e.eventName === 'ChannelCollected') {
        const a = e.args as { channelId: Hex; amount: bigint }
        this.channelPaid.set(a.channelId, (this.channelPaid.get(a.channelId) ?? 0n) + a.amount)
      } else if (e.eventName === 'ChannelSettled') {
        const a = e.args as { channelId: Hex; toRecipient: bigint }
        this.channelPaid.set(a.channelId, (this.channelPaid.get(a.channelId) ?? 0n) + a.toRecipient)
      }
    }
  }

  /** Compares every balance and record with the model and checks I1, I3, C1, C2 on chain values. */
  async checkState(full = false) {
    const { env, model } = this
    const live = new Set(model.liveChannels())
    const chanIds = this.channels.filter((id) => full || live.has(id) || this.touched.has(id))
    this.touched.clear()
    const tok = env.d.token
    const holders = [...this.a.all.map((k) => this.addr(k)), this.broker, this.channel]
    const senders = [...this.a.payers, this.a.outsider].map((k) => this.addr(k))
    const payees = this.a.payees.map((k) => this.addr(k))
    const pairs = senders.flatMap((s) => payees.map((r) => [s, r] as const))
    const [bals, sends, claims, reserves, nonces, chans] = await Promise.all([
      Promise.all(holders.map((h) => read<bigint>(env, tok, C.SoukTokenAbi, 'balanceOf', [h]))),
      Promise.all(senders.map((s) => read<readonly [bigint, bigint, bigint]>(env, this.broker, C.TicketBrokerAbi, 'getSender', [s]))),
      Promise.all(senders.map((s) => read<bigint>(env, this.broker, C.TicketBrokerAbi, 'pendingClaims', [s]))),
      Promise.all(pairs.map(([s, r]) => read<bigint>(env, this.broker, C.TicketBrokerAbi, 'reserveOf', [s, r]))),
      Promise.all(pairs.map(([s, r]) => read<bigint>(env, this.broker, C.TicketBrokerAbi, 'nextNonce', [s, r]))),
      Promise.all(chanIds.map((id) => read<ChannelState>(env, this.channel, C.PaymentChannelAbi, 'getChannel', [id]))),
    ])
    holders.forEach((h, i) => assert.equal(bals[i], model.balanceOf(h), `token balance of ${h}`))
    senders.forEach((s, i) => {
      const m = model.getSender(s)
      assert.deepEqual([...sends[i]!], [m.deposit, m.withdrawBlock, m.debt], `sender ${s} (deposit, withdrawBlock, debt)`)
      assert.equal(claims[i], BigInt(model.pendingClaims(s)), `pending claims of ${s}`)
      assert.equal(m.debt, model.claimQueue(s).reduce((t, c) => t + c.amount, 0n), 'model debt == Σ claims')
    })
    pairs.forEach(([s, r], i) => {
      assert.equal(reserves[i], model.reserveOf(s, r), `reserve ${s}→${r}`)
      assert.equal(nonces[i], model.nextNonce(s, r), `next nonce ${s}→${r}`)
    })
    chanIds.forEach((id, i) => {
      const c = chans[i]!
      const m = model.getChannel(id)
      assert.deepEqual(
        [c.sender.toLowerCase(), c.recipient.toLowerCase(), c.deposit, c.paid, c.closingAmount, c.settleBlock],
        [m.sender.toLowerCase(), m.recipient.toLowerCase(), m.deposit, m.paid, m.closingAmount, m.settleBlock],
        `channel ${id}`,
      )
      // C2: paid <= deposit, and never more than the sender signed.
      assert.ok(c.paid <= c.deposit, 'C2 paid <= deposit')
      assert.ok((this.channelPaid.get(id) ?? 0n) <= (this.maxSigned.get(id) ?? 0n), `C2: channel ${id} paid more than any voucher`)
    })
    // I1 on chain values alone.
    const brokerBal = bals[holders.length - 2]!
    const owed = sends.reduce((t, x) => t + x[0], 0n) + reserves.reduce((t, x) => t + x, 0n)
    assert.equal(brokerBal, owed, 'I1: broker balance == Σ deposit + Σ reserve')
    // C1 on chain values alone.
    const chanBal = bals[holders.length - 1]!
    assert.equal(chanBal, chans.reduce((t, c) => t + c.deposit - c.paid, 0n), 'C1: channel balance == Σ (deposit - paid)')
    // I3: what each payee got from the broker plus its unpaid claims is exactly the face of its winners.
    for (const r of payees) {
      const k = r.toLowerCase()
      const got = this.brokerPaid.get(k) ?? 0n
      const won = this.winningFace.get(k) ?? 0n
      assert.ok(got <= won, `I3: payee ${r} received ${got} > face of its winning tickets ${won}`)
      assert.equal(got + model.claimsOwedTo(r), won, `I3: payee ${r} paid + owed == Σ face`)
    }
  }

  // ------------------------------------------------------------ tickets
  private async freshTicket(payer: number, payee: number, face: bigint, nonce: bigint, exp: bigint, win: boolean, half: boolean): Promise<SignedTicket> {
    const key = this.a.payers[payer]!
    const base = { recipient: this.addr(this.a.payees[payee]!), sender: this.addr(key), faceValue: face, winProb: half ? 2n ** 255n : win ? MAX_UINT256 : 0n, senderNonce: nonce, expirationBlock: exp }
    if (!half) {
      const rand = this.nextRand()
      return signTicket(this.env.chain.chainId, this.broker, key, { ...base, recipientRandHash: randHash(rand) }, rand)
    }
    return signTicketWithOutcome(this.env.chain.chainId, this.broker, key, base, win, () => this.nextRand())
  }

  /** Builds a ticket of the wanted kind; `nonce` is the nonce to use for fresh tickets. */
  private async makeTicket(payer: number, payee: number, kind: TicketKind, face: bigint, nonce: bigint, exp: number, half: boolean, forger: number): Promise<SignedTicket> {
    const exec = this.model.block + 1n
    const pk = `${payer}|${payee}`
    switch (kind) {
      case 'replay': {
        const old = this.redeemed.get(pk)
        if (old?.length) return old[exp % old.length]!
        return this.freshTicket(payer, payee, face, nonce, exec + BigInt(exp), true, half)
      }
      case 'staleNonce': {
        const next = this.model.nextNonce(this.addr(this.a.payers[payer]!), this.addr(this.a.payees[payee]!))
        const n = next === 0n ? nonce : next - 1n - (BigInt(exp) % next)
        return this.freshTicket(payer, payee, face, n, exec + BigInt(exp), true, half)
      }
      case 'expired':
        return this.freshTicket(payer, payee, face, nonce, exec - 1n - BigInt(exp % 3), true, half)
      case 'lose':
        return this.freshTicket(payer, payee, face, nonce, exec + BigInt(exp), false, half)
      case 'wrongRand': {
        const st = await this.freshTicket(payer, payee, face, nonce, exec + BigInt(exp), true, half)
        return { ...st, recipientRand: st.recipientRand + 1n }
      }
      case 'highS': {
        const st = await this.freshTicket(payer, payee, face, nonce, exec + BigInt(exp), true, half)
        return { ...st, ...highS(st) }
      }
      case 'forged': {
        let fk = this.anyKey(((forger % 7) + 7) % 7)
        if (fk === this.a.payers[payer]) fk = this.a.outsider
        const st = await this.freshTicket(payer, payee, face, nonce, exec + BigInt(exp), true, false)
        const forgedSig = await signTicket(this.env.chain.chainId, this.broker, fk, st.ticket, st.recipientRand)
        return { ...forgedSig }
      }
      case 'win':
        return this.freshTicket(payer, payee, face, nonce, exec + BigInt(exp), true, half)
    }
  }

  private remember(sts: readonly SignedTicket[]) {
    for (const st of sts) {
      const payer = this.a.payers.findIndex((k) => this.addr(k).toLowerCase() === st.ticket.sender.toLowerCase())
      const payee = this.a.payees.findIndex((k) => this.addr(k).toLowerCase() === st.ticket.recipient.toLowerCase())
      const pk = `${payer}|${payee}`
      const list = this.redeemed.get(pk) ?? []
      list.push(st)
      this.redeemed.set(pk, list)
    }
  }

  // ------------------------------------------------------------ vouchers
  /** Mostly a live channel (a closing one when `closing`), sometimes a settled one or an id never opened. */
  private chId(i: number, closing = false): Hex {
    const id = this.pickChannel(i, closing)
    this.touched.add(id)
    return id
  }
  private pickChannel(i: number, closing: boolean): Hex {
    if (this.channels.length === 0 || i % 16 === 0) return `0x${'ee'.repeat(32)}`
    if (i % 16 === 1) return this.channels[Math.floor(i / 16) % this.channels.length]!
    const live = this.model.liveChannels()
    const pool = closing && i % 4 !== 0 ? live.filter((id) => this.model.getChannel(id).settleBlock !== 0n) : live
    if (pool.length === 0) return this.channels[i % this.channels.length]!
    return pool[i % pool.length]!
  }
  private async voucher(id: Hex, p: VoucherPick, inc: number): Promise<{ amount: bigint; sig: Hex }> {
    const c = this.model.getChannel(id)
    const list = this.vouchers.get(id) ?? []
    const senderKey = this.a.all.find((k) => this.addr(k).toLowerCase() === c.sender.toLowerCase())
    const latest = list.at(-1)
    const sign = async (amount: bigint, key = senderKey) => {
      const sig = await signVoucher(this.env.chain.chainId, this.channel, key ?? this.a.outsider, id, amount)
      if (key === senderKey && key) {
        list.push({ amount, sig })
        this.vouchers.set(id, list)
        if (amount > (this.maxSigned.get(id) ?? 0n)) this.maxSigned.set(id, amount)
      }
      return { amount, sig }
    }
    switch (p) {
      case 'none':
        return { amount: 0n, sig: '0x' }
      case 'latest':
        if (latest) return latest
        return sign(BigInt(inc) <= c.deposit ? BigInt(inc) : c.deposit)
      case 'older':
        if (list.length) return list[inc % list.length]!
        return sign(0n)
      case 'forged':
        return sign((latest?.amount ?? 0n) + BigInt(inc) + 1n, this.a.outsider === senderKey ? this.a.payees[0] : this.a.outsider)
      case 'over':
        return sign(c.deposit + 1n + BigInt(inc))
      case 'highS': {
        const v = latest ?? (await sign(BigInt(inc) <= c.deposit ? BigInt(inc) : c.deposit))
        return { amount: v.amount, sig: joinSignature(highS(splitSignature(v.sig))) }
      }
      case 'new': {
        const amount = (latest?.amount ?? 0n) + BigInt(inc)
        return sign(amount <= c.deposit ? amount : c.deposit)
      }
    }
  }

  // ------------------------------------------------------------ dispatch
  async exec(cmd: Cmd) {
    // Before any channel exists, most channel commands open one instead (a few still hit an unknown id).
    if ('ch' in cmd && this.model.liveChannels().length === 0 && cmd.ch % 4 !== 0) {
      cmd = { t: 'open', payer: cmd.ch % 3, payee: (cmd.ch >> 2) % 3, amt: 20 + (cmd.ch % 40), wrongTo: false }
    }
    const B = { address: this.broker, abi: C.TicketBrokerAbi }
    const P = { address: this.channel, abi: C.PaymentChannelAbi }
    switch (cmd.t) {
      case 'fundDeposit': {
        const k = this.senderKey(cmd.who)
        const a = cmd.over ? this.model.balanceOf(this.addr(k)) + 1n : BigInt(cmd.amt)
        return this.step(k, { ...B, functionName: 'fundDeposit', args: [a] }, (m) => m.fundDeposit(this.addr(k), a))
      }
      case 'fundReserve': {
        const k = this.senderKey(cmd.who)
        const r = cmd.payee === 3 ? ZERO : this.addr(this.a.payees[cmd.payee]!)
        return this.step(k, { ...B, functionName: 'fundReserve', args: [r, BigInt(cmd.amt)] }, (m) => m.fundReserve(this.addr(k), r, BigInt(cmd.amt)))
      }
      case 'unlock': {
        const k = this.senderKey(cmd.who)
        return this.step(k, { ...B, functionName: 'unlock' }, (m) => m.unlock(this.addr(k)))
      }
      case 'cancelUnlock': {
        const k = this.senderKey(cmd.who)
        return this.step(k, { ...B, functionName: 'cancelUnlock' }, (m) => m.cancelUnlock(this.addr(k)))
      }
      case 'withdraw': {
        const k = this.senderKey(cmd.who)
        const rs = this.a.payees.filter((_, i) => cmd.mask & (1 << i)).map((x) => this.addr(x))
        return this.step(k, { ...B, functionName: 'withdraw', args: [rs] }, (m) => m.withdraw(this.addr(k), rs))
      }
      case 'redeem': {
        const nonce = this.model.nextNonce(this.addr(this.a.payers[cmd.payer]!), this.addr(this.a.payees[cmd.payee]!)) + BigInt(cmd.skip)
        const st = await this.makeTicket(cmd.payer, cmd.payee, cmd.kind, BigInt(cmd.face), nonce, cmd.exp, cmd.half, cmd.forger)
        // Anyone may submit a ticket; the payee usually does.
        const caller = this.a.payees[cmd.payee]!
        return this.step(caller, { ...B, functionName: 'redeemWinningTicket', args: [ticketArg(st)] }, (m) => m.redeemWinningTicket(st), () => this.remember([st]))
      }
      case 'batch': {
        const nonces = new Map<number, bigint>()
        const sts: SignedTicket[] = []
        for (let i = 0; i < cmd.payers.length; i++) {
          const payer = cmd.payers[i]!
          const recipient = this.addr(this.a.payees[cmd.payee]!)
          let n = nonces.get(payer) ?? this.model.nextNonce(this.addr(this.a.payers[payer]!), recipient)
          const bad = i === cmd.badAt ? cmd.bad : undefined
          if (bad === 'dupNonce' && nonces.has(payer)) n -= 1n
          const kind: TicketKind = bad === undefined || bad === 'mixed' || bad === 'dupNonce' ? 'win' : bad
          const payee = bad === 'mixed' ? (cmd.payee + 1) % 3 : cmd.payee
          sts.push(await this.makeTicket(payer, payee, kind, BigInt(cmd.face + (i % 3)), n, 5 + i, false, cmd.badAt & 7))
          nonces.set(payer, n + 1n)
        }
        const caller = this.a.payees[cmd.payee]!
        return this.step(caller, { ...B, functionName: 'batchRedeemWinningTickets', args: [sts.map(ticketArg)] }, (m) => m.batchRedeemWinningTickets(sts), () => this.remember(sts))
      }
      case 'settleClaims': {
        const payer = this.addr(this.senderKey(cmd.payer))
        return this.step(this.anyKey(cmd.caller), { ...B, functionName: 'settleClaims', args: [payer] }, (m) => m.settleClaims(payer))
      }
      case 'mine': {
        this.stats.steps++
        await this.env.chain.dev!.mine(cmd.n)
        this.model.block = await this.env.chain.blockNumber()
        return this.checkState()
      }
      case 'open': {
        const k = this.a.payers[cmd.payer]!
        const to = cmd.wrongTo ? ZERO : this.addr(this.a.payees[cmd.payee]!)
        let id: Hex | undefined
        return this.step(k, { ...P, functionName: 'open', args: [to, BigInt(cmd.amt)] }, (m) => { id = m.open(this.addr(k), to, BigInt(cmd.amt)) }, () => this.channels.push(id!))
      }
      case 'topUp': {
        const id = this.chId(cmd.ch)
        const c = this.model.getChannel(id)
        // Mostly the sender tops up; sometimes someone else tries.
        const k = cmd.caller < 4 ? (this.a.all.find((x) => this.addr(x).toLowerCase() === c.sender.toLowerCase()) ?? this.anyKey(cmd.caller)) : this.anyKey(cmd.caller)
        return this.step(k, { ...P, functionName: 'topUp', args: [id, BigInt(cmd.amt)] }, (m) => m.topUp(this.addr(k), id, BigInt(cmd.amt)))
      }
      case 'collect':
      case 'closeByRecipient': {
        const id = this.chId(cmd.ch)
        const c = this.model.getChannel(id)
        const k = cmd.caller < 5 ? (this.a.all.find((x) => this.addr(x).toLowerCase() === c.recipient.toLowerCase()) ?? this.anyKey(cmd.caller)) : this.anyKey(cmd.caller)
        const v = await this.voucher(id, cmd.pick, cmd.inc)
        const fn = cmd.t
        return this.step(k, { ...P, functionName: fn, args: [id, v.amount, v.sig] }, (m) => m[fn](this.addr(k), id, v.amount, v.sig))
      }
      case 'startClose': {
        const id = this.chId(cmd.ch)
        const c = this.model.getChannel(id)
        const k = cmd.caller < 5 ? (this.a.all.find((x) => this.addr(x).toLowerCase() === c.sender.toLowerCase()) ?? this.anyKey(cmd.caller)) : this.anyKey(cmd.caller)
        return this.step(k, { ...P, functionName: 'startClose', args: [id] }, (m) => m.startClose(this.addr(k), id))
      }
      case 'challenge': {
        const id = this.chId(cmd.ch, true)
        const v = await this.voucher(id, cmd.pick, cmd.inc)
        return this.step(this.anyKey(cmd.caller), { ...P, functionName: 'challenge', args: [id, v.amount, v.sig] }, (m) => m.challenge(id, v.amount, v.sig))
      }
      case 'settle': {
        const id = this.chId(cmd.ch, true)
        return this.step(this.anyKey(cmd.caller), { ...P, functionName: 'settle', args: [id] }, (m) => m.settle(id))
      }
    }
  }
}

test(`TicketBroker + PaymentChannel match the reference model over ${RUNS} runs × ${STEPS} random steps`, { timeout: NIGHTLY ? 3_600_000 : 600_000 }, async () => {
  const t0 = performance.now()
  const env = await setupSouk({ accounts: 8, unlockPeriodBlocks: Number(UNLOCK), settleDelayBlocks: Number(SETTLE) })
  const keys = env.keys
  const a: Actors = { payers: keys.slice(1, 4), payees: keys.slice(4, 7), outsider: keys[7]!, all: keys.slice(1, 8) }
  const base = new SoukModel({ chainId: env.chain.chainId, broker: env.d.ticketBroker, channel: env.d.paymentChannel, unlockPeriod: UNLOCK, settleDelay: SETTLE })
  // Payers and the outsider get tokens and approve both contracts once.
  for (const k of [...a.payers, a.outsider]) {
    await send(env, keys[0]!, { address: env.d.token, abi: C.SoukTokenAbi, functionName: 'faucet', args: [env.addr(k), START_TOKENS] })
    base.mint(env.addr(k), START_TOKENS)
    for (const spender of [env.d.ticketBroker, env.d.paymentChannel]) {
      await send(env, k, { address: env.d.token, abi: C.SoukTokenAbi, functionName: 'approve', args: [spender, MAX_UINT256] })
    }
  }
  base.block = await env.chain.blockNumber()
  let snap = await env.chain.dev!.snapshot()
  let runId = 0
  let totalSteps = 0
  const okTotal = { n: 0 }
  const reverts = new Map<string, number>()
  const okBy = new Map<string, number>()
  let maxClaims = 0
  await fc.assert(
    fc.asyncProperty(fc.array(cmdArb, { minLength: STEPS, maxLength: STEPS }), async (cmds) => {
      await env.chain.dev!.revert(snap)
      snap = await env.chain.dev!.snapshot()
      const run = new Run(env, a, base, ++runId)
      await run.checkState()
      for (const cmd of cmds) {
        await run.exec(cmd)
        for (const k of [...a.payers, a.outsider]) maxClaims = Math.max(maxClaims, run.model.pendingClaims(env.addr(k)))
      }
      await run.checkState(true)
      totalSteps += run.stats.steps
      okTotal.n += run.stats.ok
      for (const [k, v] of run.stats.reverts) reverts.set(k, (reverts.get(k) ?? 0) + v)
      for (const [k, v] of run.stats.okBy) okBy.set(k, (okBy.get(k) ?? 0) + v)
    }),
    { numRuns: RUNS, seed: process.env.SOUK_FC_SEED ? Number(process.env.SOUK_FC_SEED) : undefined, endOnFailure: true },
  )
  const secs = ((performance.now() - t0) / 1000).toFixed(1)
  console.log(`invariants: ${totalSteps} steps in ${secs}s; ${okTotal.n} successful calls ${JSON.stringify(Object.fromEntries([...okBy].sort()))}; most claims queued at once ${maxClaims}; reverts ${JSON.stringify(Object.fromEntries([...reverts].sort()))}`)
  assert.ok(totalSteps >= RUNS * STEPS, `ran ${totalSteps} steps`)
  // The generator must actually reach the interesting paths.
  for (const name of ['TicketBrokerNonceUsed', 'TicketBrokerInvalidSignature', 'TicketBrokerTicketExpired', 'TicketBrokerNotWinning', 'TicketBrokerInvalidRecipientRand', 'TicketBrokerClaimsOutstanding', 'PaymentChannelInvalidVoucher', 'PaymentChannelExceedsDeposit']) {
    assert.ok((reverts.get(name) ?? 0) > 0, `no step hit ${name}`)
  }
  for (const fn of ['fundDeposit', 'fundReserve', 'unlock', 'cancelUnlock', 'withdraw', 'redeemWinningTicket', 'batchRedeemWinningTickets', 'settleClaims', 'open', 'topUp', 'collect', 'closeByRecipient', 'startClose', 'challenge', 'settle']) {
    assert.ok((okBy.get(fn) ?? 0) > 0, `no successful ${fn}`)
  }
  assert.ok(maxClaims > 32, `the 32-claims-per-call bound was never exercised (max queue ${maxClaims})`)
  await env.chain.close()
})
