/**
 * Property tests of TicketBroker and PaymentChannel: fast-check drives random call sequences from 3 payers,
 * 3 payees and an outsider through the embedded EVM and, after EVERY step, compares the chain with the
 * reference model (model.ts):
 *  - the call reverts iff the model says so, with the same custom error name, and then changes nothing;
 *  - every token balance, every sender record, reserve, next nonce, claim count and channel equals the model;
 *  - I1: broker balance == Σ deposit + Σ reserve + Σ credit (read from the chain); C1: channel balance == Σ (deposit - paid);
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
  MAX_UINT256, highS, joinSignature, randHash, runsArg, splitSignature, read, send, sendTogether, setupSouk, signTicket, signTicketWithOutcome, signVoucher, ticketArg, transferLogs,
  type SendParams, type SignedTicket, type SoukEnv, type Ticket,
} from './helpers.js'
import { ModelRevert, SEQ_MASK, SoukModel, type ChannelState } from './model.js'

/** Lane 0 for the payees' ad-hoc redemptions; lanes 1..3 for the tickets they accept and hold. */
const LANES = [0n, 1n, 2n, 3n] as const

/** Batch order: by sender, then nonce (lane, then seq), as the broker needs within a (sender, lane). */
function sortForBatch(sts: readonly SignedTicket[]): SignedTicket[] {
  return [...sts].sort((a, b) => {
    const s = a.ticket.sender.toLowerCase().localeCompare(b.ticket.sender.toLowerCase())
    if (s !== 0) return s
    return a.ticket.senderNonce < b.ticket.senderNonce ? -1 : a.ticket.senderNonce > b.ticket.senderNonce ? 1 : 0
  })
}

const NIGHTLY = process.env.SOUK_TEST_SCALE === 'nightly'
const RUNS = 20
const STEPS = NIGHTLY ? 1000 : 100
const UNLOCK = 20n
const SETTLE = 25n
const START_TOKENS = 3000n
const ZERO: Address = '0x0000000000000000000000000000000000000000'

// ------------------------------------------------------------------ commands
type TicketKind = 'win' | 'lose' | 'expired' | 'replay' | 'forged' | 'wrongRand' | 'staleNonce' | 'highS'
/** Who submits a redemption: mostly the recipient; the sender and a stranger try too (they must fail). */
type Submitter = 'payee' | 'sender' | 'stranger'
/** What an adversary does in the same block, before an honest payee's batch. */
type FrontRun = 'none' | 'stranger-lifts-top' | 'sender-voids' | 'sender-drains'
/** How a batch goes to the broker: the ticket structs, or runs paid now, or runs kept as the caller's credit. */
type Fmt = 'struct' | 'runs' | 'credit'
type VoucherPick = 'new' | 'latest' | 'older' | 'forged' | 'over' | 'none' | 'highS'
type Cmd =
  | { t: 'fundDeposit'; who: number; amt: number; over: boolean }
  | { t: 'fundReserve'; who: number; payee: number; amt: number }
  | { t: 'unlock'; who: number }
  | { t: 'cancelUnlock'; who: number }
  | { t: 'withdraw'; who: number; mask: number }
  | { t: 'redeem'; payer: number; payee: number; kind: TicketKind; face: number; skip: number; half: boolean; exp: number; forger: number; by: Submitter; lane: number }
  | { t: 'batch'; payee: number; payers: number[]; face: number; badAt: number; bad: TicketKind | 'mixed' | 'dupNonce' | 'truncate'; lane: number; fmt: Fmt }
  | { t: 'accept'; payer: number; payee: number; lane: number; skip: number; gap: boolean; face: number; half: boolean }
  | { t: 'redeemAccepted'; payee: number; payer: number; lane: number; all: boolean; front: FrontRun; fmt: Fmt }
  | { t: 'withdrawCredit'; who: number }
  | { t: 'void'; payer: number; payee: number; lane: number; huge: boolean; by: Submitter }
  | { t: 'replayRevealed'; i: number; byPayee: boolean; fmt: Fmt }
  | { t: 'selfDeal'; payer: number; face: number }
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
const lane = fc.integer({ min: 0, max: 2 }) // a payee's processes / stores each use their own lane
const fmt = fc.constantFrom<Fmt>('struct', 'runs', 'credit')
const submitter = fc.constantFrom<Submitter>('payee', 'payee', 'payee', 'payee', 'payee', 'sender', 'stranger')

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
      by: submitter, lane,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('batch' as const), payee: p3,
      payers: fc.oneof(fc.array(p3, { minLength: 1, maxLength: 5 }), fc.array(p3, { minLength: 33, maxLength: 40 }).map((a) => a.map(() => a[0]!))),
      face: fc.integer({ min: 1, max: 12 }), badAt: fc.integer({ min: -8, max: 39 }),
      bad: fc.constantFrom<TicketKind | 'mixed' | 'dupNonce' | 'truncate'>('lose', 'expired', 'forged', 'wrongRand', 'highS', 'mixed', 'dupNonce', 'truncate'), lane, fmt,
    }),
  },
  // Adversarial and honest-payee actions around tickets a payee has accepted but not yet redeemed.
  { weight: 6, arbitrary: fc.record({ t: fc.constant('accept' as const), payer: p3, payee: p3, lane, skip: fc.integer({ min: 0, max: 3 }), gap: fc.boolean(), face: fc.integer({ min: 1, max: 30 }), half: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('redeemAccepted' as const), payee: p3, payer: p3, lane, all: fc.boolean(),
      front: fc.constantFrom<FrontRun>('none', 'stranger-lifts-top', 'sender-voids', 'sender-drains'), fmt,
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('void' as const), payer: p3, payee: p3, lane, huge: fc.boolean(), by: fc.constantFrom<Submitter>('sender', 'stranger') }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('replayRevealed' as const), i: fc.nat(), byPayee: fc.boolean(), fmt }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('withdrawCredit' as const), who: anyone }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('selfDeal' as const), payer: p3, face: fc.integer({ min: 1, max: 200 }) }) },
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
  readonly stats = { steps: 0, ok: 0, okBy: new Map<string, number>(), reverts: new Map<string, number>(), accepted: 0, frontRuns: 0 }
  /** Winning tickets honest payees accepted and hold unredeemed, by `payee|payer|lane`. */
  readonly accepted = new Map<string, SignedTicket[]>()
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

  /** `caller` redeems `sts` in format `fmt` (for runs, `truncate` cuts the last byte off the first run). */
  redeemCall(caller: Hex, sts: readonly SignedTicket[], fmt: Fmt, truncate = false): { p: SendParams; modelOp: (m: SoukModel) => unknown } {
    const B = { address: this.broker, abi: C.TicketBrokerAbi }
    const me = this.addr(caller)
    if (fmt === 'struct') return { p: { ...B, functionName: 'batchRedeemWinningTickets', args: [sts.map(ticketArg)] }, modelOp: (m) => m.batchRedeemWinningTickets(me, sts) }
    const runs = runsArg(sts)
    if (truncate && runs[0]) runs[0] = { ...runs[0], tickets: runs[0].tickets.slice(0, -2) as Hex }
    return { p: { ...B, functionName: 'redeemRuns', args: [runs, fmt === 'runs'] }, modelOp: (m) => m.redeemRuns(me, runs, fmt === 'runs') }
  }

  /** Applies `modelOp` to a copy of the model and sends `p`; checks both agree, then everything else. */
  async step(key: Hex, p: SendParams, modelOp: (m: SoukModel) => unknown, onOk?: (r: TransactionReceipt) => void) {
    return this.stepTogether([{ key, p, modelOp, onOk }])
  }

  /**
   * Mines `txs` in one block in the given order (the first ones front-run the later ones) and checks each against the
   * model applied in the same order. One transaction goes through `send` as usual.
   */
  async stepTogether(txs: readonly { key: Hex; p: SendParams; modelOp: (m: SoukModel) => unknown; onOk?: (r: TransactionReceipt) => void }[]) {
    this.stats.steps++
    const outcomes: { actual?: ContractRevertError; receipt?: TransactionReceipt }[] = []
    if (txs.length === 1) {
      try {
        outcomes.push({ receipt: await send(this.env, txs[0]!.key, txs[0]!.p) })
      } catch (e) {
        if (!(e instanceof ContractRevertError)) throw e
        outcomes.push({ actual: e })
      }
    } else {
      for (const r of await sendTogether(this.env, txs.map(({ key, p }) => ({ key, p })))) {
        if (r.ok) outcomes.push({ receipt: r.receipt })
        else {
          assert.ok(r.error instanceof ContractRevertError, `undecodable revert: ${r.error.message}`)
          outcomes.push({ actual: r.error })
        }
      }
      assert.equal(new Set(outcomes.map((o) => o.receipt?.blockNumber).filter((b) => b !== undefined)).size <= 1, true, 'one block')
    }
    for (let i = 0; i < txs.length; i++) await this.settleStep(txs[i]!, outcomes[i]!)
    this.model.block = await this.env.chain.blockNumber()
    await this.checkState()
  }

  private async settleStep(tx: { p: SendParams; modelOp: (m: SoukModel) => unknown; onOk?: (r: TransactionReceipt) => void }, o: { actual?: ContractRevertError; receipt?: TransactionReceipt }) {
    const { p, modelOp, onOk } = tx
    const next = this.model.clone()
    let expected: ModelRevert | undefined
    try {
      await modelOp(next)
    } catch (e) {
      if (!(e instanceof ModelRevert)) throw e
      expected = e
    }
    const { actual, receipt } = o
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
      if (e.eventName === 'TicketsRedeemed') {
        const a = e.args
        const hex = a.seqs.slice(2)
        assert.equal(a.fromDeposit + a.fromReserve, a.faceValue * BigInt(hex.length / 32), 'TicketsRedeemed: paid == face × tickets')
        for (let i = 0; i < hex.length; i += 32) {
          const k = `${a.sender}|${a.recipient}|${(a.lane << 128n) | BigInt(`0x${hex.slice(i, i + 32)}`)}`.toLowerCase()
          assert.ok(!this.redeemedNonces.has(k), `I2 violated: ${k} redeemed twice`)
          this.redeemedNonces.add(k)
          const rk = a.recipient.toLowerCase()
          this.winningFace.set(rk, (this.winningFace.get(rk) ?? 0n) + a.faceValue)
        }
        continue
      }
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
    const pairs = senders.flatMap((s) => payees.flatMap((r) => LANES.map((l) => [s, r, l] as const)))
    const [credits, bals, sends, claims, reserves, nonces, chans] = await Promise.all([
      Promise.all(this.a.all.map((k) => read<bigint>(env, this.broker, C.TicketBrokerAbi, 'creditOf', [this.addr(k)]))),
      Promise.all(holders.map((h) => read<bigint>(env, tok, C.SoukTokenAbi, 'balanceOf', [h]))),
      Promise.all(senders.map((s) => read<readonly [bigint, bigint, bigint]>(env, this.broker, C.TicketBrokerAbi, 'getSender', [s]))),
      Promise.all(senders.map((s) => read<bigint>(env, this.broker, C.TicketBrokerAbi, 'pendingClaims', [s]))),
      Promise.all(pairs.filter((x) => x[2] === 0n).map(([s, r]) => read<bigint>(env, this.broker, C.TicketBrokerAbi, 'reserveOf', [s, r]))),
      Promise.all(pairs.map(([s, r, l]) => read<bigint>(env, this.broker, C.TicketBrokerAbi, 'nextNonce', [s, r, l]))),
      Promise.all(chanIds.map((id) => read<ChannelState>(env, this.channel, C.PaymentChannelAbi, 'getChannel', [id]))),
    ])
    holders.forEach((h, i) => assert.equal(bals[i], model.balanceOf(h), `token balance of ${h}`))
    this.a.all.forEach((k, i) => assert.equal(credits[i], model.creditOf(this.addr(k)), `credit of ${this.addr(k)}`))
    senders.forEach((s, i) => {
      const m = model.getSender(s)
      assert.deepEqual([...sends[i]!], [m.deposit, m.withdrawBlock, m.debt], `sender ${s} (deposit, withdrawBlock, debt)`)
      assert.equal(claims[i], BigInt(model.pendingClaims(s)), `pending claims of ${s}`)
      assert.equal(m.debt, model.claimQueue(s).reduce((t, c) => t + c.amount, 0n), 'model debt == Σ claims')
    })
    pairs.filter((x) => x[2] === 0n).forEach(([s, r], i) => assert.equal(reserves[i], model.reserveOf(s, r), `reserve ${s}→${r}`))
    pairs.forEach(([s, r, l], i) => assert.equal(nonces[i], model.nextNonce(s, r, l), `next nonce ${s}→${r} lane ${l}`))
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
    const owed = sends.reduce((t, x) => t + x[0], 0n) + reserves.reduce((t, x) => t + x, 0n) + credits.reduce((t, x) => t + x, 0n)
    assert.equal(brokerBal, owed, 'I1: broker balance == Σ deposit + Σ reserve + Σ credit')
    // C1 on chain values alone.
    const chanBal = bals[holders.length - 1]!
    assert.equal(chanBal, chans.reduce((t, c) => t + c.deposit - c.paid, 0n), 'C1: channel balance == Σ (deposit - paid)')
    // I3: what each payee got from the broker plus its unpaid claims is exactly the face of its winners.
    for (const r of payees) {
      const k = r.toLowerCase()
      // Paid by transfer (now, or out of a credit) or still held as credit.
      const got = (this.brokerPaid.get(k) ?? 0n) + model.creditOf(r)
      const won = this.winningFace.get(k) ?? 0n
      assert.ok(got <= won, `I3: payee ${r} received ${got} > face of its winning tickets ${won}`)
      assert.equal(got + model.claimsOwedTo(r), won, `I3: payee ${r} paid + owed == Σ face`)
    }
    await this.checkAccepted()
  }

  /**
   * I6, the rule the adversaries attack: every winning ticket an honest payee accepted and still holds can be paid at
   * face value or queued as a claim — whatever senders and strangers did since. Checked by redeeming, on a copy of
   * the model, all of each payee's held tickets in one batch (lanes in seq order), which must not revert and must
   * credit exactly their face (paid now + queued claims).
   */
  private async checkAccepted() {
    for (let pi = 0; pi < this.a.payees.length; pi++) {
      const held = [...this.accepted.entries()].filter(([k]) => k.startsWith(`${pi}|`)).flatMap(([, v]) => v)
      if (held.length === 0) continue
      const r = this.addr(this.a.payees[pi]!)
      const m = this.model.clone()
      const owedBefore = m.claimsOwedTo(r)
      try {
        await m.batchRedeemWinningTickets(r, sortForBatch(held))
      } catch (e) {
        if (e instanceof ModelRevert) assert.fail(`I6: payee ${pi}'s accepted tickets can no longer be redeemed: ${e.message}`)
        throw e
      }
      const paid = m.payouts.reduce((t, x) => t + x.amount, 0n)
      const face = held.reduce((t, x) => t + x.ticket.faceValue, 0n)
      assert.equal(paid + m.claimsOwedTo(r) - owedBefore, face, `I6: payee ${pi}'s accepted tickets pay their face`)
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
  private async makeTicket(payer: number, payee: number, kind: TicketKind, face: bigint, nonce: bigint, exp: number, half: boolean, forger: number, lane = 0n): Promise<SignedTicket> {
    const exec = this.model.block + 1n
    const pk = `${payer}|${payee}`
    switch (kind) {
      case 'replay': {
        const old = this.redeemed.get(pk)
        if (old?.length) return old[exp % old.length]!
        return this.freshTicket(payer, payee, face, nonce, exec + BigInt(exp), true, half)
      }
      case 'staleNonce': {
        const next = this.model.nextNonce(this.addr(this.a.payers[payer]!), this.addr(this.a.payees[payee]!), lane) & SEQ_MASK
        const n = next === 0n ? nonce : (lane << 128n) | (next - 1n - (BigInt(exp) % next))
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

  /** Random redemptions by the payee use lane 0; the accepted-ticket pool lives in lanes 1..3, which the
   * sender and strangers also aim at. */
  private freeLane(by: Submitter | 'payee', lane: number): bigint {
    return by === 'payee' ? 0n : BigInt(lane + 1)
  }

  private heldKey(payee: number, payer: number, lane: bigint) { return `${payee}|${payer}|${lane}` }

  /** An honest payee accepts a winning ticket in one of its lanes: in order, past a gap, or filling a gap. */
  private async accept(cmd: Extract<Cmd, { t: 'accept' }>) {
    this.stats.steps++
    const L = BigInt(cmd.lane + 1)
    const key = this.heldKey(cmd.payee, cmd.payer, L)
    const held = this.accepted.get(key) ?? []
    const payer = this.addr(this.a.payers[cmd.payer]!)
    const payee = this.addr(this.a.payees[cmd.payee]!)
    const floor = this.model.nextNonce(payer, payee, L) & SEQ_MASK
    const have = new Set(held.map((x) => x.ticket.senderNonce & SEQ_MASK))
    const top = held.reduce((m, x) => ((x.ticket.senderNonce & SEQ_MASK) + 1n > m ? (x.ticket.senderNonce & SEQ_MASK) + 1n : m), floor)
    let seq = top + BigInt(cmd.skip)
    if (cmd.gap) for (let x = floor; x < top; x++) if (!have.has(x)) { seq = x; break }
    const base = { recipient: payee, sender: payer, faceValue: BigInt(cmd.face), senderNonce: (L << 128n) | seq, expirationBlock: this.model.block + 100_000n }
    const st = cmd.half
      ? await signTicketWithOutcome(this.env.chain.chainId, this.broker, this.a.payers[cmd.payer]!, { ...base, winProb: 2n ** 255n }, true, () => this.nextRand())
      : await this.signWith(cmd.payer, { ...base, winProb: MAX_UINT256 })
    held.push(st)
    this.accepted.set(key, held)
    this.stats.accepted++
    await this.checkAccepted()
  }

  private async signWith(payer: number, t: Omit<Ticket, 'recipientRandHash'>): Promise<SignedTicket> {
    const rand = this.nextRand()
    return signTicket(this.env.chain.chainId, this.broker, this.a.payers[payer]!, { ...t, recipientRandHash: randHash(rand) }, rand)
  }

  /** The sender's voiding ticket: to the payee, under a rand of the sender's own, face 0, always winning. */
  private async voidTicket(payer: number, payee: number, lane: number, huge: boolean): Promise<SignedTicket> {
    const L = BigInt(lane + 1)
    const held = this.accepted.get(this.heldKey(payee, payer, L)) ?? []
    const top = held.reduce((m, x) => ((x.ticket.senderNonce & SEQ_MASK) > m ? x.ticket.senderNonce & SEQ_MASK : m), 0n)
    const seq = huge ? SEQ_MASK : top + 3n
    return this.signWith(payer, {
      recipient: this.addr(this.a.payees[payee]!), sender: this.addr(this.a.payers[payer]!), faceValue: 0n, winProb: MAX_UINT256,
      senderNonce: (L << 128n) | seq, expirationBlock: this.model.block + 1000n,
    })
  }

  /** A winning ticket from a payer to itself. */
  private async selfTicket(payer: number, face: bigint): Promise<SignedTicket> {
    const me = this.addr(this.a.payers[payer]!)
    return this.signWith(payer, { recipient: me, sender: me, faceValue: face, winProb: MAX_UINT256, senderNonce: this.model.nextNonce(me, me, 0n), expirationBlock: this.model.block + 50n })
  }

  /** The payee redeems what it holds (one lane of one payer, or everything), maybe with an adversary first in the block. */
  private async redeemAccepted(cmd: Extract<Cmd, { t: 'redeemAccepted' }>): Promise<void> {
    const L = BigInt(cmd.lane + 1)
    const keys = cmd.all ? [...this.accepted.keys()].filter((k) => k.startsWith(`${cmd.payee}|`)) : [this.heldKey(cmd.payee, cmd.payer, L)]
    const sts = sortForBatch(keys.flatMap((k) => this.accepted.get(k) ?? []))
    if (sts.length === 0) return this.exec({ t: 'mine', n: 1 })
    const payeeKey = this.a.payees[cmd.payee]!
    const R = this.addr(payeeKey)
    const B = { address: this.broker, abi: C.TicketBrokerAbi }
    const call = this.redeemCall(payeeKey, sts, cmd.fmt)
    const victim = {
      key: payeeKey, p: call.p,
      modelOp: call.modelOp,
      onOk: () => { for (const k of keys) this.accepted.delete(k); this.remember(sts) },
    }
    const top = sts.at(-1)!
    const topPayer = this.a.payers.findIndex((k) => this.addr(k).toLowerCase() === top.ticket.sender.toLowerCase())
    const front = []
    if (cmd.front === 'stranger-lifts-top') {
      // In the run format the stranger lifts the payee's whole pending call and sends it as its own.
      if (cmd.fmt === 'struct') front.push({ key: this.a.outsider, p: { ...B, functionName: 'redeemWinningTicket', args: [ticketArg(top)] }, modelOp: (m: SoukModel) => m.redeemWinningTicket(this.addr(this.a.outsider), top) })
      else front.push({ key: this.a.outsider, ...this.redeemCall(this.a.outsider, sts, cmd.fmt) })
    } else if (cmd.front === 'sender-voids') {
      const v = await this.voidTicket(topPayer, cmd.payee, Number(top.ticket.senderNonce >> 128n) - 1, false)
      const k = this.a.payers[topPayer]!
      front.push({ key: k, p: { ...B, functionName: 'redeemWinningTicket', args: [ticketArg(v)] }, modelOp: (m: SoukModel) => m.redeemWinningTicket(this.addr(k), v) })
    } else if (cmd.front === 'sender-drains') {
      // The sender empties its deposit into its own pocket just before the batch: the payee's tickets then come from
      // its reserve or become claims, never less than face.
      const k = this.a.payers[topPayer]!
      const me = this.addr(k)
      const dep = this.model.getSender(me).deposit
      if (dep > 0n && this.model.getSender(me).debt === 0n) {
        const st = await this.selfTicket(topPayer, dep)
        front.push({ key: k, p: { ...B, functionName: 'redeemWinningTicket', args: [ticketArg(st)] }, modelOp: (m: SoukModel) => m.redeemWinningTicket(me, st) })
      }
    }
    this.stats.frontRuns += front.length
    return this.stepTogether([...front, victim])
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
  async exec(cmd: Cmd): Promise<void> {
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
        const l = this.freeLane(cmd.by, cmd.lane)
        const nonce = this.model.nextNonce(this.addr(this.a.payers[cmd.payer]!), this.addr(this.a.payees[cmd.payee]!), l) + BigInt(cmd.skip)
        const st = await this.makeTicket(cmd.payer, cmd.payee, cmd.kind, BigInt(cmd.face), nonce, cmd.exp, cmd.half, cmd.forger, l)
        // Only the recipient may submit; the sender and a stranger try (and must fail with TicketBrokerNotRecipient).
        const caller = cmd.by === 'payee' ? this.a.payees[cmd.payee]! : cmd.by === 'sender' ? this.a.payers[cmd.payer]! : this.a.outsider
        return this.step(caller, { ...B, functionName: 'redeemWinningTicket', args: [ticketArg(st)] }, (m) => m.redeemWinningTicket(this.addr(caller), st), () => this.remember([st]))
      }
      case 'batch': {
        const nonces = new Map<number, bigint>()
        const sts: SignedTicket[] = []
        for (let i = 0; i < cmd.payers.length; i++) {
          const payer = cmd.payers[i]!
          const recipient = this.addr(this.a.payees[cmd.payee]!)
          let n = nonces.get(payer) ?? this.model.nextNonce(this.addr(this.a.payers[payer]!), recipient, 0n)
          const bad = i === cmd.badAt ? cmd.bad : undefined
          if (bad === 'dupNonce' && nonces.has(payer)) n -= 1n
          const kind: TicketKind = bad === undefined || bad === 'mixed' || bad === 'dupNonce' || bad === 'truncate' ? 'win' : bad
          const payee = bad === 'mixed' ? (cmd.payee + 1) % 3 : cmd.payee
          sts.push(await this.makeTicket(payer, payee, kind, BigInt(cmd.face + (i % 3)), n, 5 + i, false, cmd.badAt & 7, n >> 128n))
          nonces.set(payer, n + 1n)
        }
        const caller = this.a.payees[cmd.payee]!
        const c = this.redeemCall(caller, sts, cmd.fmt, cmd.bad === 'truncate' && cmd.badAt >= 0)
        return this.step(caller, c.p, c.modelOp, () => this.remember(sts))
      }
      case 'accept':
        return this.accept(cmd)
      case 'redeemAccepted':
        return this.redeemAccepted(cmd)
      case 'void': {
        // The sender signs a ticket to the payee under a rand of its own — face 0, always winning, a nonce above
        // everything the payee holds in that lane (or the very top) — and submits it itself or through a stranger.
        const st = await this.voidTicket(cmd.payer, cmd.payee, cmd.lane, cmd.huge)
        const caller = cmd.by === 'sender' ? this.a.payers[cmd.payer]! : this.a.outsider
        return this.step(caller, { ...B, functionName: 'redeemWinningTicket', args: [ticketArg(st)] }, (m) => m.redeemWinningTicket(this.addr(caller), st))
      }
      case 'replayRevealed': {
        // Calldata of past redemptions is public: a stranger resubmits it; or the recipient itself tries again.
        const seen = [...this.redeemed.values()].flat()
        if (seen.length === 0) return this.exec({ t: 'mine', n: 1 })
        const st = seen[cmd.i % seen.length]!
        const payee = this.a.payees.find((k) => this.addr(k).toLowerCase() === st.ticket.recipient.toLowerCase())!
        const caller = cmd.byPayee ? payee : this.a.outsider
        const c = this.redeemCall(caller, [st], cmd.fmt)
        return this.step(caller, c.p, c.modelOp)
      }
      case 'withdrawCredit': {
        // Mostly an actor that holds a credit (else one that does not: TicketBrokerNoCredit).
        const holders = this.a.all.filter((x) => this.model.creditOf(this.addr(x)) > 0n)
        const k = holders.length > 0 && cmd.who < 5 ? holders[cmd.who % holders.length]! : this.anyKey(cmd.who)
        return this.step(k, { ...B, functionName: 'withdrawCredit' }, (m) => m.withdrawCredit(this.addr(k)))
      }
      case 'selfDeal': {
        // A sender that is also a "server" of its own: it pays itself from its deposit (an instant withdrawal). Honest
        // payees' accepted tickets must still be paid or queued as claims.
        const k = this.a.payers[cmd.payer]!
        const me = this.addr(k)
        const st = await this.selfTicket(cmd.payer, BigInt(cmd.face))
        return this.step(k, { ...B, functionName: 'redeemWinningTicket', args: [ticketArg(st)] }, (m) => m.redeemWinningTicket(me, st))
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

test(`adversarial property: every accepted ticket is paid or claimable at face value; TicketBroker + PaymentChannel match the reference model over ${RUNS} runs × ${STEPS} random steps`, { timeout: NIGHTLY ? 3_600_000 : 600_000 }, async () => {
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
  const adv = { accepted: 0, frontRuns: 0 }
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
      adv.accepted += run.stats.accepted
      adv.frontRuns += run.stats.frontRuns
      okTotal.n += run.stats.ok
      for (const [k, v] of run.stats.reverts) reverts.set(k, (reverts.get(k) ?? 0) + v)
      for (const [k, v] of run.stats.okBy) okBy.set(k, (okBy.get(k) ?? 0) + v)
    }),
    { numRuns: RUNS, seed: process.env.SOUK_FC_SEED ? Number(process.env.SOUK_FC_SEED) : undefined, endOnFailure: true },
  )
  const secs = ((performance.now() - t0) / 1000).toFixed(1)
  assert.ok(adv.accepted > 0 && adv.frontRuns > 0, `adversarial paths not reached: ${JSON.stringify(adv)}`)
  console.log(`invariants: ${adv.accepted} tickets accepted and held, ${adv.frontRuns} front-runs; ${totalSteps} steps in ${secs}s; ${okTotal.n} successful calls ${JSON.stringify(Object.fromEntries([...okBy].sort()))}; most claims queued at once ${maxClaims}; reverts ${JSON.stringify(Object.fromEntries([...reverts].sort()))}`)
  assert.ok(totalSteps >= RUNS * STEPS, `ran ${totalSteps} steps`)
  // The generator must actually reach the interesting paths.
  for (const name of ['TicketBrokerNotRecipient', 'TicketBrokerNonceUsed', 'TicketBrokerInvalidSignature', 'TicketBrokerTicketExpired', 'TicketBrokerNotWinning', 'TicketBrokerInvalidRecipientRand', 'TicketBrokerClaimsOutstanding', 'PaymentChannelInvalidVoucher']) {
    assert.ok((reverts.get(name) ?? 0) > 0, `no step hit ${name}`)
  }
  for (const fn of ['fundDeposit', 'fundReserve', 'unlock', 'cancelUnlock', 'withdraw', 'redeemWinningTicket', 'batchRedeemWinningTickets', 'redeemRuns', 'withdrawCredit', 'settleClaims', 'open', 'topUp', 'collect', 'closeByRecipient', 'startClose', 'challenge', 'settle']) {
    assert.ok((okBy.get(fn) ?? 0) > 0, `no successful ${fn}`)
  }
  assert.ok(maxClaims > 32, `the 32-claims-per-call bound was never exercised (max queue ${maxClaims})`)
  await env.chain.close()
})
