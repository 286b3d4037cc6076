/**
 * A TypeScript reference model of TicketBroker, PaymentChannel and the token balances they move. Each method
 * mirrors the Solidity function of the same name, check for check and in the same order, so that the model
 * predicts the exact custom error of a reverting call (thrown as `ModelRevert`) and the exact state after a
 * successful one — including the order claims are paid in and the 32-claims-per-call bound.
 *
 * A reverting call leaves the model half-updated; callers take `clone()` first and restore it on `ModelRevert`
 * (the EVM does the same). Signatures are checked with the same rules as OpenZeppelin's ECDSA: v ∈ {27, 28},
 * s ≤ n/2, a 65-byte encoding for vouchers, and the recovered signer must be the sender.
 *
 * @example
 * ```ts
 * import { SoukModel } from './model.js'
 * const m = new SoukModel({ chainId: 31337, broker, channel, unlockPeriod: 20n, settleDelay: 10n })
 * m.mint(alice, 100n)
 * m.fundDeposit(alice, 40n) // throws ModelRevert('ERC20InsufficientBalance') when alice lacks the tokens
 * ```
 */
import { encodeAbiParameters, hexToBigInt, keccak256, recoverAddress, size, slice, type Address, type Hex } from 'viem'
import { SECP256K1_N, randHash, ticketDigest, ticketDraw, voucherDigest, type SignedTicket, type TicketRunArg } from './helpers.js'

/** The model's prediction that a call reverts with the custom error `errorName`. */
export class ModelRevert extends Error {
  constructor(readonly errorName: string, readonly args: readonly unknown[] = []) {
    super(`model revert ${errorName}(${args.map(String).join(', ')})`)
  }
}

export interface SenderState { deposit: bigint; withdrawBlock: bigint; debt: bigint }
export interface Claim { recipient: Address; amount: bigint }
export interface ChannelState { sender: Address; recipient: Address; deposit: bigint; paid: bigint; closingAmount: bigint; settleBlock: bigint }
/** A token movement out of a contract, as it appears in a Transfer event. */
export interface Payout { from: Address; to: Address; amount: bigint }

const MAX_CLAIMS_PER_CALL = 32
/** Bytes per ticket in a TicketRun: seq (16) ‖ r (32) ‖ vs (32) ‖ rand (32). */
const RUN_RECORD_BYTES = 112
const HALF_N = SECP256K1_N / 2n
const ZERO = '0x0000000000000000000000000000000000000000'

const lc = (a: string) => a.toLowerCase() as Address
const pair = (s: Address, r: Address) => `${lc(s)}|${lc(r)}`
const laneOf = (s: Address, r: Address, lane: bigint) => `${lc(s)}|${lc(r)}|${lane}`
/** A ticket nonce is `lane << 128 | seq`. */
export const LANE_SHIFT = 128n
export const SEQ_MASK = (1n << 128n) - 1n

export interface ModelParams { chainId: number; token?: Address; broker: Address; channel: Address; unlockPeriod: bigint; settleDelay: bigint }

interface State {
  balances: Map<Address, bigint>
  senders: Map<Address, SenderState>
  reserves: Map<string, bigint>
  lastNonce: Map<string, bigint>
  claims: Map<Address, Claim[]>
  claimHead: Map<Address, number>
  channels: Map<Hex, ChannelState>
  openedCount: Map<Address, bigint>
  credits: Map<Address, bigint>
}

function emptyState(): State {
  return { balances: new Map(), senders: new Map(), reserves: new Map(), lastNonce: new Map(), claims: new Map(), claimHead: new Map(), channels: new Map(), openedCount: new Map(), credits: new Map() }
}

export class SoukModel {
  readonly p: ModelParams
  /** Latest mined block; a transaction sent now executes in block `block + 1`. */
  block = 0n
  /** Token movements out of the contracts made by the last successful call. */
  payouts: Payout[] = []
  private s: State = emptyState()

  constructor(p: ModelParams) {
    this.p = { ...p, broker: lc(p.broker), channel: lc(p.channel) }
  }

  clone(): SoukModel {
    const m = new SoukModel(this.p)
    m.block = this.block
    m.s = structuredClone(this.s)
    return m
  }

  // ------------------------------------------------------------ token
  balanceOf(a: Address): bigint { return this.s.balances.get(lc(a)) ?? 0n }
  mint(to: Address, amount: bigint) { this.s.balances.set(lc(to), this.balanceOf(to) + amount) }
  /** ERC20 transfer with OpenZeppelin's ERC20InsufficientBalance check (allowances are unlimited in the tests). */
  private transfer(from: Address, to: Address, amount: bigint) {
    const bal = this.balanceOf(from)
    if (bal < amount) throw new ModelRevert('ERC20InsufficientBalance', [from, bal, amount])
    this.s.balances.set(lc(from), bal - amount)
    this.mint(to, amount)
    if (lc(from) === this.p.broker || lc(from) === this.p.channel) this.payouts.push({ from: lc(from), to: lc(to), amount })
  }

  private get execBlock() { return this.block + 1n }

  // ------------------------------------------------------------ broker views
  getSender(a: Address): SenderState {
    const x = this.s.senders.get(lc(a))
    return x ? { ...x } : { deposit: 0n, withdrawBlock: 0n, debt: 0n }
  }
  private sender(a: Address): SenderState {
    let x = this.s.senders.get(lc(a))
    if (!x) this.s.senders.set(lc(a), (x = { deposit: 0n, withdrawBlock: 0n, debt: 0n }))
    return x
  }
  reserveOf(s: Address, r: Address): bigint { return this.s.reserves.get(pair(s, r)) ?? 0n }
  /** The lowest nonce a ticket from `s` to `r` in `lane` may carry: `lane << 128 | next seq`. */
  nextNonce(s: Address, r: Address, lane = 0n): bigint {
    if (lane > SEQ_MASK) throw new ModelRevert('TicketBrokerLaneOutOfRange', [lane])
    return (lane << LANE_SHIFT) | (this.s.lastNonce.get(laneOf(s, r, lane)) ?? 0n)
  }
  pendingClaims(s: Address): number { return (this.s.claims.get(lc(s))?.length ?? 0) - (this.s.claimHead.get(lc(s)) ?? 0) }
  /** Unpaid claims of `s`, oldest first. */
  claimQueue(s: Address): Claim[] {
    return (this.s.claims.get(lc(s)) ?? []).slice(this.s.claimHead.get(lc(s)) ?? 0).map((c) => ({ ...c }))
  }
  /** What redeemRuns kept for `r` (TicketBroker.creditOf). */
  creditOf(r: Address): bigint { return this.s.credits.get(lc(r)) ?? 0n }
  /** Σ deposit + Σ reserve + Σ credit: what the broker must hold (I1). */
  brokerOwes(): bigint {
    let t = 0n
    for (const x of this.s.senders.values()) t += x.deposit
    for (const r of this.s.reserves.values()) t += r
    for (const c of this.s.credits.values()) t += c
    return t
  }
  /** Σ unpaid claims owed to `recipient` across senders. */
  claimsOwedTo(recipient: Address): bigint {
    let t = 0n
    for (const [s] of this.s.claims) for (const c of this.claimQueue(s)) if (lc(c.recipient) === lc(recipient)) t += c.amount
    return t
  }

  // ------------------------------------------------------------ broker calls
  private begin() { this.payouts = [] }

  fundDeposit(caller: Address, amount: bigint) {
    this.begin()
    if (amount === 0n) throw new ModelRevert('TicketBrokerZeroAmount')
    this.transfer(caller, this.p.broker, amount)
    const s = this.sender(caller)
    s.deposit += amount
    this.payClaims(caller, s)
  }

  fundReserve(caller: Address, recipient: Address, amount: bigint) {
    this.begin()
    if (amount === 0n) throw new ModelRevert('TicketBrokerZeroAmount')
    if (lc(recipient) === ZERO) throw new ModelRevert('TicketBrokerZeroAddress')
    this.transfer(caller, this.p.broker, amount)
    const s = this.sender(caller)
    const uncovered = s.debt > s.deposit ? s.debt - s.deposit : 0n
    const toClaims = uncovered <= amount ? uncovered : amount
    s.deposit += toClaims
    this.s.reserves.set(pair(caller, recipient), this.reserveOf(caller, recipient) + amount - toClaims)
    this.payClaims(caller, s)
  }

  unlock(caller: Address) {
    this.begin()
    const s = this.sender(caller)
    if (s.withdrawBlock !== 0n) throw new ModelRevert('TicketBrokerAlreadyUnlocking', [caller, s.withdrawBlock])
    s.withdrawBlock = this.execBlock + this.p.unlockPeriod
  }

  cancelUnlock(caller: Address) {
    this.begin()
    const s = this.sender(caller)
    if (s.withdrawBlock === 0n) throw new ModelRevert('TicketBrokerNotUnlocked', [caller])
    s.withdrawBlock = 0n
  }

  withdraw(caller: Address, recipients: readonly Address[]) {
    this.begin()
    const s = this.sender(caller)
    if (s.withdrawBlock === 0n) throw new ModelRevert('TicketBrokerNotUnlocked', [caller])
    if (this.execBlock < s.withdrawBlock) throw new ModelRevert('TicketBrokerUnlockPending', [caller, s.withdrawBlock, this.execBlock])
    this.payClaims(caller, s)
    if (s.debt !== 0n) throw new ModelRevert('TicketBrokerClaimsOutstanding', [caller, s.debt])
    const dep = s.deposit
    let res = 0n
    for (const r of recipients) {
      res += this.reserveOf(caller, r)
      this.s.reserves.set(pair(caller, r), 0n)
    }
    if (dep + res === 0n) throw new ModelRevert('TicketBrokerNothingToWithdraw', [caller])
    s.deposit = 0n
    s.withdrawBlock = 0n
    this.transfer(this.p.broker, caller, dep + res)
  }

  /** Only the ticket's recipient may redeem it (TicketBrokerNotRecipient otherwise). */
  async redeemWinningTicket(caller: Address, st: SignedTicket) {
    this.begin()
    const pay = await this.redeem(caller, st)
    if (pay !== 0n) this.transfer(this.p.broker, st.ticket.recipient, pay)
  }

  /** The caller's winners, one transfer to it; every ticket must name the caller as recipient. */
  async batchRedeemWinningTickets(caller: Address, tickets: readonly SignedTicket[]) {
    this.begin()
    if (tickets.length === 0) return
    let total = 0n
    for (const st of tickets) total += await this.redeem(caller, st)
    if (total !== 0n) this.transfer(this.p.broker, caller, total)
  }

  settleClaims(sender: Address) {
    this.begin()
    this.payClaims(sender, this.sender(sender))
  }

  /**
   * The run format: per run its shape, sender and expiry, then per ticket (seq ‖ r ‖ vs ‖ rand, 112 bytes) its
   * nonce, signature and draw, with the caller as recipient and keccak256(rand) as the rand hash; paid to the caller
   * in one transfer (`payNow`) or to its credit.
   */
  async redeemRuns(caller: Address, runs: readonly TicketRunArg[], payNow: boolean) {
    this.begin()
    let total = 0n
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i]!
      const data = run.tickets.slice(2)
      const len = data.length / 2
      const n = Math.floor(len / RUN_RECORD_BYTES)
      if (n === 0 || len !== n * RUN_RECORD_BYTES) throw new ModelRevert('TicketBrokerBadRun', [BigInt(i), BigInt(len)])
      if (lc(run.sender) === ZERO) throw new ModelRevert('TicketBrokerZeroAddress')
      if (this.execBlock > run.expirationBlock) throw new ModelRevert('TicketBrokerTicketExpired', [run.expirationBlock, this.execBlock])
      const key = laneOf(run.sender, caller, run.lane)
      const s = this.sender(run.sender)
      for (let k = 0; k < n; k++) {
        const rec = data.slice(k * 2 * RUN_RECORD_BYTES, (k + 1) * 2 * RUN_RECORD_BYTES)
        const seq = BigInt(`0x${rec.slice(0, 32)}`)
        const r = `0x${rec.slice(32, 96)}` as Hex
        const vs = BigInt(`0x${rec.slice(96, 160)}`)
        const rand = BigInt(`0x${rec.slice(160, 224)}`)
        const sig = { r, s: `0x${(vs & ((1n << 255n) - 1n)).toString(16).padStart(64, '0')}` as Hex, v: 27 + Number(vs >> 255n) }
        const nonce = (run.lane << LANE_SHIFT) | seq
        const next = this.s.lastNonce.get(key) ?? 0n
        if (seq < next) throw new ModelRevert('TicketBrokerNonceUsed', [run.sender, caller, nonce, (run.lane << LANE_SHIFT) | next])
        const t = { recipient: caller, sender: run.sender, faceValue: run.faceValue, winProb: run.winProb, senderNonce: nonce, recipientRandHash: randHash(rand), expirationBlock: run.expirationBlock }
        if (!(await validSigner(ticketDigest(this.p.chainId, this.p.broker, t), sig.r, sig.s, sig.v, run.sender))) throw new ModelRevert('TicketBrokerInvalidSignature', [run.sender])
        const draw = ticketDraw(sig.r, sig.s, sig.v, rand)
        if (draw >= run.winProb) throw new ModelRevert('TicketBrokerNotWinning', [draw, run.winProb])
        this.s.lastNonce.set(key, seq + 1n)
        total += this.debit(s, run.sender, caller, run.faceValue)
      }
    }
    if (total === 0n) return
    if (payNow) this.transfer(this.p.broker, caller, total)
    else this.s.credits.set(lc(caller), this.creditOf(caller) + total)
  }

  /** Sends the caller its credit (TicketBrokerNoCredit when it has none). */
  withdrawCredit(caller: Address) {
    this.begin()
    const c = this.creditOf(caller)
    if (c === 0n) throw new ModelRevert('TicketBrokerNoCredit', [caller])
    this.s.credits.set(lc(caller), 0n)
    this.transfer(this.p.broker, caller, c)
  }

  /** Pays `face` from the deposit, then the reserve; else queues it as a claim (returns 0). */
  private debit(s: SenderState, sender: Address, recipient: Address, face: bigint): bigint {
    const reserve = this.reserveOf(sender, recipient)
    const dep = s.debt === 0n ? s.deposit : 0n
    if (dep + reserve < face) {
      s.debt += face
      const q = this.s.claims.get(lc(sender)) ?? []
      q.push({ recipient: lc(recipient), amount: face })
      this.s.claims.set(lc(sender), q)
      return 0n
    }
    const fromDeposit = face <= dep ? face : dep
    const fromReserve = face - fromDeposit
    s.deposit -= fromDeposit
    if (fromReserve !== 0n) this.s.reserves.set(pair(sender, recipient), reserve - fromReserve)
    return face
  }

  /** Validates one ticket, consumes its nonce, debits the sender; returns what to transfer now (0 = claim). */
  private async redeem(caller: Address, st: SignedTicket): Promise<bigint> {
    const t = st.ticket
    if (lc(t.recipient) !== lc(caller)) throw new ModelRevert('TicketBrokerNotRecipient', [t.recipient, caller])
    if (lc(t.sender) === ZERO) throw new ModelRevert('TicketBrokerZeroAddress')
    if (this.execBlock > t.expirationBlock) throw new ModelRevert('TicketBrokerTicketExpired', [t.expirationBlock, this.execBlock])
    if (keccak256(encodeAbiParameters([{ type: 'uint256' }], [st.recipientRand])) !== t.recipientRandHash) {
      throw new ModelRevert('TicketBrokerInvalidRecipientRand', [t.recipientRandHash, st.recipientRand])
    }
    const lane = t.senderNonce >> LANE_SHIFT
    const seq = t.senderNonce & SEQ_MASK
    const next = this.s.lastNonce.get(laneOf(t.sender, t.recipient, lane)) ?? 0n
    if (seq < next) throw new ModelRevert('TicketBrokerNonceUsed', [t.sender, t.recipient, t.senderNonce, (lane << LANE_SHIFT) | next])
    const digest = ticketDigest(this.p.chainId, this.p.broker, t)
    if (!(await validSigner(digest, st.r, st.s, st.v, t.sender))) throw new ModelRevert('TicketBrokerInvalidSignature', [t.sender])
    const draw = ticketDraw(st.r, st.s, st.v, st.recipientRand)
    if (draw >= t.winProb) throw new ModelRevert('TicketBrokerNotWinning', [draw, t.winProb])
    this.s.lastNonce.set(laneOf(t.sender, t.recipient, lane), seq + 1n)
    return this.debit(this.sender(t.sender), t.sender, t.recipient, t.faceValue)
  }

  /** Pays queued claims oldest first from the deposit, at most 32 per call, the head one partly if needed. */
  private payClaims(sender: Address, s: SenderState) {
    if (s.debt === 0n || s.deposit === 0n) return
    const q = this.s.claims.get(lc(sender)) ?? []
    let head = this.s.claimHead.get(lc(sender)) ?? 0
    const pays: [Address, bigint][] = []
    for (let k = 0; k < MAX_CLAIMS_PER_CALL && head < q.length && s.deposit !== 0n; ++k) {
      const c = q[head]!
      const pay = c.amount <= s.deposit ? c.amount : s.deposit
      s.deposit -= pay
      s.debt -= pay
      c.amount -= pay
      pays.push([c.recipient, pay])
      if (c.amount === 0n) ++head
    }
    this.s.claimHead.set(lc(sender), head)
    for (const [to, amt] of pays) this.transfer(this.p.broker, to, amt)
  }

  // ------------------------------------------------------------ channel views
  getChannel(id: Hex): ChannelState {
    const c = this.s.channels.get(id)
    return c ? { ...c } : { sender: ZERO, recipient: ZERO, deposit: 0n, paid: 0n, closingAmount: 0n, settleBlock: 0n }
  }
  openedCount(s: Address): bigint { return this.s.openedCount.get(lc(s)) ?? 0n }
  /** Ids of channels not yet settled, in opening order. */
  liveChannels(): Hex[] { return [...this.s.channels.keys()] }
  nextChannelId(sender: Address, recipient: Address): Hex {
    return keccak256(encodeAbiParameters(
      [{ type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'address' }, { type: 'uint256' }],
      [BigInt(this.p.chainId), this.p.channel, sender, recipient, this.openedCount(sender)],
    ))
  }
  /** Σ (deposit - paid) over live channels: what the channel contract must hold (C1). */
  channelOwes(): bigint {
    let t = 0n
    for (const c of this.s.channels.values()) t += c.deposit - c.paid
    return t
  }

  // ------------------------------------------------------------ channel calls
  open(caller: Address, recipient: Address, amount: bigint): Hex {
    this.begin()
    if (amount === 0n) throw new ModelRevert('PaymentChannelZeroAmount')
    if (lc(recipient) === ZERO) throw new ModelRevert('PaymentChannelZeroAddress')
    const id = this.nextChannelId(caller, recipient)
    this.s.openedCount.set(lc(caller), this.openedCount(caller) + 1n)
    this.s.channels.set(id, { sender: lc(caller), recipient: lc(recipient), deposit: amount, paid: 0n, closingAmount: 0n, settleBlock: 0n })
    this.transfer(caller, this.p.channel, amount)
    return id
  }

  topUp(caller: Address, id: Hex, amount: bigint) {
    this.begin()
    if (amount === 0n) throw new ModelRevert('PaymentChannelZeroAmount')
    const c = this.openChannel(id)
    if (lc(c.sender) !== lc(caller)) throw new ModelRevert('PaymentChannelNotSender', [id, caller])
    c.deposit += amount
    this.transfer(caller, this.p.channel, amount)
  }

  async collect(caller: Address, id: Hex, cumulativeAmount: bigint, signature: Hex) {
    this.begin()
    const c = this.openChannel(id)
    if (lc(c.recipient) !== lc(caller)) throw new ModelRevert('PaymentChannelNotRecipient', [id, caller])
    const due = await this.checkVoucher(id, c, cumulativeAmount, signature)
    const amount = due > c.paid ? due - c.paid : 0n
    if (amount === 0n) return
    c.paid = due
    this.transfer(this.p.channel, c.recipient, amount)
  }

  async closeByRecipient(caller: Address, id: Hex, cumulativeAmount: bigint, signature: Hex) {
    this.begin()
    const c = this.known(id)
    if (lc(c.recipient) !== lc(caller)) throw new ModelRevert('PaymentChannelNotRecipient', [id, caller])
    let best = c.closingAmount > c.paid ? c.closingAmount : c.paid
    if (cumulativeAmount > best) best = await this.checkVoucher(id, c, cumulativeAmount, signature)
    this.settleChannel(id, c, best)
  }

  startClose(caller: Address, id: Hex) {
    this.begin()
    const c = this.known(id)
    if (lc(c.sender) !== lc(caller)) throw new ModelRevert('PaymentChannelNotSender', [id, caller])
    if (c.settleBlock !== 0n) throw new ModelRevert('PaymentChannelAlreadyClosing', [id, c.settleBlock])
    c.settleBlock = this.execBlock + this.p.settleDelay
    c.closingAmount = c.paid
  }

  async challenge(id: Hex, cumulativeAmount: bigint, signature: Hex) {
    this.begin()
    const c = this.known(id)
    if (c.settleBlock === 0n) throw new ModelRevert('PaymentChannelNotClosing', [id])
    if (this.execBlock >= c.settleBlock) throw new ModelRevert('PaymentChannelSettlePending', [id, c.settleBlock, this.execBlock])
    const due = await this.checkVoucher(id, c, cumulativeAmount, signature)
    if (due > c.closingAmount) c.closingAmount = due
  }

  settle(id: Hex) {
    this.begin()
    const c = this.known(id)
    if (c.settleBlock === 0n) throw new ModelRevert('PaymentChannelNotClosing', [id])
    if (this.execBlock < c.settleBlock) throw new ModelRevert('PaymentChannelSettlePending', [id, c.settleBlock, this.execBlock])
    this.settleChannel(id, c, c.closingAmount)
  }

  private known(id: Hex): ChannelState {
    const c = this.s.channels.get(id)
    if (!c) throw new ModelRevert('PaymentChannelUnknown', [id])
    return c
  }
  private openChannel(id: Hex): ChannelState {
    const c = this.known(id)
    if (c.settleBlock !== 0n) throw new ModelRevert('PaymentChannelAlreadyClosing', [id, c.settleBlock])
    return c
  }
  /** Reverts unless the sender signed the voucher; returns what it can pay: min(amount, deposit). */
  private async checkVoucher(id: Hex, c: ChannelState, amount: bigint, signature: Hex): Promise<bigint> {
    let ok = size(signature) === 65
    if (ok) {
      const v = Number(hexToBigInt(slice(signature, 64, 65)))
      ok = await validSigner(voucherDigest(this.p.chainId, this.p.channel, id, amount), slice(signature, 0, 32), slice(signature, 32, 64), v, c.sender)
    }
    if (!ok) throw new ModelRevert('PaymentChannelInvalidVoucher', [id])
    return amount < c.deposit ? amount : c.deposit
  }
  private settleChannel(id: Hex, c: ChannelState, best: bigint) {
    const toRecipient = best > c.paid ? best - c.paid : 0n
    const toSender = c.deposit - c.paid - toRecipient
    this.s.channels.delete(id)
    if (toRecipient !== 0n) this.transfer(this.p.channel, c.recipient, toRecipient)
    if (toSender !== 0n) this.transfer(this.p.channel, c.sender, toSender)
  }
}

/** OpenZeppelin ECDSA.tryRecover rules: low s, v ∈ {27, 28}, non-zero signer equal to `expected`. */
export async function validSigner(digest: Hex, r: Hex, s: Hex, v: number, expected: Address): Promise<boolean> {
  const sn = hexToBigInt(s)
  if (sn > HALF_N) return false
  if (v !== 27 && v !== 28) return false
  const rn = hexToBigInt(r)
  if (rn === 0n || sn === 0n || rn >= SECP256K1_N) return false
  try {
    const signer = await recoverAddress({ hash: digest, signature: { r, s, v: BigInt(v) } })
    return lc(signer) === lc(expected)
  } catch {
    return false
  }
}
