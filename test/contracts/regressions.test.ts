/**
 * One test per known hole of probabilistic-ticket and channel schemes (design/protocols.md §1, §3), each showing
 * Souk's contracts close it, plus the ticket binding, expiry, replay, claims and batch-transfer rules.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseEventLogs, type Address, type Hex } from 'viem'
import { ContractRevertError } from '../../src/chain/index.js'
import * as C from '../../artifacts/contracts.js'
import {
  MAX_UINT256, compactSignature, deployRaw, expectRevert, highS, joinSignature, randHash, read, send, setupSouk, signTicket, signVoucher,
  runsArg, sendTogether, splitSignature, ticketArg, ticketDraw, transferLogs, type SignedTicket, type SoukEnv, type Ticket,
} from './helpers.js'

const UNLOCK = 20
const SETTLE = 10

interface Ctx {
  env: SoukEnv
  payer: Hex
  payee: Hex
  other: Hex
  outsider: Hex
  P: Address
  R: Address
  R2: Address
  O: Address
}

async function ctx(): Promise<Ctx> {
  const env = await setupSouk({ accounts: 6, unlockPeriodBlocks: UNLOCK, settleDelayBlocks: SETTLE })
  const [deployer, payer, payee, other, outsider] = env.keys as [Hex, Hex, Hex, Hex, Hex]
  for (const k of [payer, outsider]) {
    await send(env, deployer, { address: env.d.token, abi: C.SoukTokenAbi, functionName: 'faucet', args: [env.addr(k), 1_000_000n] })
    for (const sp of [env.d.ticketBroker, env.d.paymentChannel]) await send(env, k, { address: env.d.token, abi: C.SoukTokenAbi, functionName: 'approve', args: [sp, MAX_UINT256] })
  }
  return { env, payer, payee, other, outsider, P: env.addr(payer), R: env.addr(payee), R2: env.addr(other), O: env.addr(outsider) }
}

const B = (c: Ctx) => ({ address: c.env.d.ticketBroker, abi: C.TicketBrokerAbi })
const PC = (c: Ctx) => ({ address: c.env.d.paymentChannel, abi: C.PaymentChannelAbi })
const bal = (c: Ctx, a: Address) => read<bigint>(c.env, c.env.d.token, C.SoukTokenAbi, 'balanceOf', [a])
const senderOf = async (c: Ctx, a: Address) => {
  const [deposit, withdrawBlock, debt] = await read<readonly [bigint, bigint, bigint]>(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'getSender', [a])
  return { deposit, withdrawBlock, debt }
}
const reserveOf = (c: Ctx, s: Address, r: Address) => read<bigint>(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'reserveOf', [s, r])
const pending = (c: Ctx, s: Address) => read<bigint>(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'pendingClaims', [s])
const fund = (c: Ctx, amount: bigint, key = c.payer) => send(c.env, key, { ...B(c), functionName: 'fundDeposit', args: [amount] })
const redeem = (c: Ctx, st: SignedTicket, key = c.payee) => send(c.env, key, { ...B(c), functionName: 'redeemWinningTicket', args: [ticketArg(st)] })
const runs = (c: Ctx, sts: SignedTicket[], key = c.payee, payNow = true) => send(c.env, key, { ...B(c), functionName: 'redeemRuns', args: [runsArg(sts), payNow] })
const credit = (c: Ctx, a: Address) => read<bigint>(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'creditOf', [a])
const batch = (c: Ctx, sts: SignedTicket[], key = c.payee) => send(c.env, key, { ...B(c), functionName: 'batchRedeemWinningTickets', args: [sts.map(ticketArg)] })

let randSeq = 1000n
/** A winning ticket (winProb = 2^256 - 1) from `key` to `recipient`. */
async function winner(c: Ctx, o: { nonce: bigint; face: bigint; key?: Hex; recipient?: Address; exp?: bigint; chainId?: number; broker?: Address; sender?: Address }): Promise<SignedTicket> {
  const key = o.key ?? c.payer
  const rand = ++randSeq
  const t: Ticket = {
    recipient: o.recipient ?? c.R, sender: o.sender ?? c.env.addr(key), faceValue: o.face, winProb: MAX_UINT256, senderNonce: o.nonce,
    recipientRandHash: randHash(rand), expirationBlock: o.exp ?? (await c.env.chain.blockNumber()) + 1000n,
  }
  return signTicket(o.chainId ?? c.env.chain.chainId, o.broker ?? c.env.d.ticketBroker, key, t, rand)
}

/** Runs `f` expecting the revert `name`, and checks it changed none of the watched state. */
async function revertsCleanly(c: Ctx, f: () => Promise<unknown>, name: string) {
  const snap = async () => [await senderOf(c, c.P), await reserveOf(c, c.P, c.R), await pending(c, c.P), await bal(c, c.R), await bal(c, c.P), await bal(c, c.env.d.ticketBroker),
    await read<bigint>(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'nextNonce', [c.P, c.R, 0n])]
  const before = await snap()
  const args = await expectRevert(f, name)
  assert.deepEqual(await snap(), before, `${name} changed state`)
  return args
}

test('(a) a second encoding of a ticket signature gives no second draw: high-s, flipped v, v ∈ {0,1}, EIP-2098 compact', async () => {
  const c = await ctx()
  try {
    await fund(c, 1000n)
    const st = await winner(c, { nonce: 0n, face: 10n })
    const hi = { ...st, ...highS(st) }
    assert.notEqual(ticketDraw(hi.r, hi.s, hi.v, hi.recipientRand), ticketDraw(st.r, st.s, st.v, st.recipientRand), 'the malleated signature is a different draw')
    await revertsCleanly(c, () => redeem(c, hi), 'TicketBrokerInvalidSignature')
    await revertsCleanly(c, () => redeem(c, { ...st, v: st.v - 27 }), 'TicketBrokerInvalidSignature')
    await revertsCleanly(c, () => redeem(c, { ...st, v: st.v === 27 ? 28 : 27 }), 'TicketBrokerInvalidSignature')
    // EIP-2098: r ‖ vs, where vs carries the parity bit; passed as s it is a high value the broker rejects.
    const compact = compactSignature(st)
    const vs = `0x${compact.slice(66)}` as Hex
    if (vs !== st.s) await revertsCleanly(c, () => redeem(c, { ...st, s: vs, v: 27 }), 'TicketBrokerInvalidSignature')
    // The canonical encoding redeems once; afterwards every encoding is a used nonce.
    await redeem(c, st)
    assert.equal(await bal(c, c.R), 10n)
    await revertsCleanly(c, () => redeem(c, st), 'TicketBrokerNonceUsed')
    await revertsCleanly(c, () => redeem(c, hi), 'TicketBrokerNonceUsed')

    // Vouchers: the high-s twin and the 64-byte compact form are rejected; only the canonical 65 bytes pay.
    const id = await read<Hex>(c.env, c.env.d.paymentChannel, C.PaymentChannelAbi, 'nextChannelId', [c.P, c.R])
    await send(c.env, c.payer, { ...PC(c), functionName: 'open', args: [c.R, 100n] })
    const sig = await signVoucher(c.env.chain.chainId, c.env.d.paymentChannel, c.payer, id, 40n)
    const parts = splitSignature(sig)
    await expectRevert(() => send(c.env, c.payee, { ...PC(c), functionName: 'collect', args: [id, 40n, joinSignature(highS(parts))] }), 'PaymentChannelInvalidVoucher')
    await expectRevert(() => send(c.env, c.payee, { ...PC(c), functionName: 'collect', args: [id, 40n, compactSignature(parts)] }), 'PaymentChannelInvalidVoucher')
    await expectRevert(() => send(c.env, c.payee, { ...PC(c), functionName: 'collect', args: [id, 40n, joinSignature({ ...parts, v: parts.v - 27 })] }), 'PaymentChannelInvalidVoucher')
    assert.equal(await bal(c, c.R), 10n)
    await send(c.env, c.payee, { ...PC(c), functionName: 'collect', args: [id, 40n, sig] })
    assert.equal(await bal(c, c.R), 50n)
  } finally {
    await c.env.chain.close()
  }
})

test('(b) nobody but the sender can cancel or reset its unlock, and nobody can fund it for the sender', async () => {
  const c = await ctx()
  try {
    // No state-changing function takes the sender as a parameter except settleClaims (which only pays claims).
    const mutators = C.TicketBrokerAbi.filter((x) => x.type === 'function' && x.stateMutability !== 'view' && x.stateMutability !== 'pure')
    const withSenderArg = mutators.filter((f) => 'inputs' in f && f.inputs.some((i) => i.name === 'sender')).map((f) => ('name' in f ? f.name : ''))
    assert.deepEqual(withSenderArg, ['settleClaims'])

    await fund(c, 500n)
    await send(c.env, c.payer, { ...B(c), functionName: 'fundReserve', args: [c.R, 200n] })
    const r = await send(c.env, c.payer, { ...B(c), functionName: 'unlock' })
    const unlocking = await senderOf(c, c.P)
    assert.equal(unlocking.withdrawBlock, r.blockNumber + BigInt(UNLOCK))
    // Everything an outsider can do: it only ever touches its own record.
    await expectRevert(() => send(c.env, c.outsider, { ...B(c), functionName: 'cancelUnlock' }), 'TicketBrokerNotUnlocked')
    await fund(c, 1n, c.outsider)
    await fund(c, 0n, c.outsider).catch(() => {})
    await send(c.env, c.outsider, { ...B(c), functionName: 'fundReserve', args: [c.P, 1n] })
    await send(c.env, c.outsider, { ...B(c), functionName: 'fundReserve', args: [c.R, 1n] })
    await send(c.env, c.outsider, { ...B(c), functionName: 'settleClaims', args: [c.P] })
    await send(c.env, c.outsider, { ...B(c), functionName: 'unlock' })
    await send(c.env, c.outsider, { ...B(c), functionName: 'cancelUnlock' })
    await expectRevert(() => send(c.env, c.outsider, { ...B(c), functionName: 'withdraw', args: [[c.R]] }), 'TicketBrokerNotUnlocked')
    // The payee redeeming a ticket does not touch the unlock either.
    await redeem(c, await winner(c, { nonce: 0n, face: 5n }))
    assert.deepEqual(await senderOf(c, c.P), { ...unlocking, deposit: 495n })
    assert.equal(await reserveOf(c, c.P, c.R), 200n)
    // The outsider's own record is separate.
    assert.deepEqual(await senderOf(c, c.O), { deposit: 1n, withdrawBlock: 0n, debt: 0n })
    // And the payer withdraws on schedule.
    await c.env.chain.dev!.mine(UNLOCK)
    const before = await bal(c, c.P)
    await send(c.env, c.payer, { ...B(c), functionName: 'withdraw', args: [[c.R]] })
    assert.equal(await bal(c, c.P), before + 695n)
    assert.deepEqual(await senderOf(c, c.P), { deposit: 0n, withdrawBlock: 0n, debt: 0n })
  } finally {
    await c.env.chain.close()
  }
})

test('(c) dust front-run: emptying or 1-wei funding before a redemption queues the full face value, paid in full later', async () => {
  const c = await ctx()
  try {
    await fund(c, 100n)
    const st = await winner(c, { nonce: 0n, face: 100n })
    // The sender sees the winner coming and withdraws everything first.
    await send(c.env, c.payer, { ...B(c), functionName: 'unlock' })
    await c.env.chain.dev!.mine(UNLOCK)
    await send(c.env, c.payer, { ...B(c), functionName: 'withdraw', args: [[]] })
    // Then tops up a single wei.
    await fund(c, 1n)
    const rc = await redeem(c, st)
    assert.deepEqual(transferLogs(rc.logs, c.env.d.token), [], 'no dust paid')
    const evs = parseEventLogs({ abi: C.TicketBrokerAbi, logs: rc.logs })
    assert.deepEqual(evs.map((e) => e.eventName), ['ClaimQueued'])
    assert.equal((evs[0]!.args as { faceValue: bigint }).faceValue, 100n)
    assert.deepEqual(await senderOf(c, c.P), { deposit: 1n, withdrawBlock: 0n, debt: 100n }, 'the 1 wei is not taken, the whole face is owed')
    assert.equal(await bal(c, c.R), 0n)
    // The ticket is not burned: its nonce is spent, the claim survives, and withdrawal is blocked.
    await expectRevert(() => redeem(c, st), 'TicketBrokerNonceUsed')
    await send(c.env, c.payer, { ...B(c), functionName: 'unlock' })
    await c.env.chain.dev!.mine(UNLOCK)
    await revertsCleanly(c, () => send(c.env, c.payer, { ...B(c), functionName: 'withdraw', args: [[c.R]] }), 'TicketBrokerClaimsOutstanding')
    // The next funding pays it in full, before anything else.
    const f = await fund(c, 150n)
    assert.deepEqual(transferLogs(f.logs, c.env.d.token).filter((t) => t.to.toLowerCase() === c.R.toLowerCase()).map((t) => t.value), [100n])
    assert.equal(await bal(c, c.R), 100n)
    assert.deepEqual(await senderOf(c, c.P), { deposit: 51n, withdrawBlock: (await senderOf(c, c.P)).withdrawBlock, debt: 0n })
    assert.equal(await pending(c, c.P), 0n)

    // One wei short is still a full claim, not 99 paid now.
    const st2 = await winner(c, { nonce: 1n, face: 52n })
    await redeem(c, st2)
    assert.deepEqual([(await senderOf(c, c.P)).deposit, (await senderOf(c, c.P)).debt], [51n, 52n])
    assert.equal(await bal(c, c.R), 100n)
    await send(c.env, c.outsider, { ...B(c), functionName: 'settleClaims', args: [c.P] }) // anyone can push the 51 along
    await fund(c, 1n)
    assert.equal(await bal(c, c.R), 152n)
    assert.deepEqual([(await senderOf(c, c.P)).deposit, (await senderOf(c, c.P)).debt], [0n, 0n])
  } finally {
    await c.env.chain.close()
  }
})

test('(d) an exhausted reserve never settles below face: full face from deposit + reserve, or a claim', async () => {
  const c = await ctx()
  try {
    await send(c.env, c.payer, { ...B(c), functionName: 'fundReserve', args: [c.R, 50n] })
    await fund(c, 20n)
    // 60 <= 20 + 50: paid in full, deposit first.
    await redeem(c, await winner(c, { nonce: 0n, face: 60n }))
    assert.equal(await bal(c, c.R), 60n)
    assert.equal(await reserveOf(c, c.P, c.R), 10n)
    assert.equal((await senderOf(c, c.P)).deposit, 0n)
    // 11 > 0 + 10: nothing taken, claim of 11.
    await redeem(c, await winner(c, { nonce: 1n, face: 11n }))
    assert.equal(await bal(c, c.R), 60n, 'not settled for the 10 left')
    assert.equal(await reserveOf(c, c.P, c.R), 10n)
    assert.equal((await senderOf(c, c.P)).debt, 11n)
    // Another recipient's reserve never pays this one's tickets; new funding pays the claim first.
    await send(c.env, c.payer, { ...B(c), functionName: 'fundReserve', args: [c.R2, 5n] })
    assert.equal(await bal(c, c.R), 65n)
    assert.equal(await reserveOf(c, c.P, c.R2), 0n)
    assert.equal((await senderOf(c, c.P)).debt, 6n)
    await send(c.env, c.payer, { ...B(c), functionName: 'fundReserve', args: [c.R2, 10n] })
    assert.equal(await bal(c, c.R), 71n)
    assert.equal(await reserveOf(c, c.P, c.R2), 4n)
    assert.deepEqual(await senderOf(c, c.P), { deposit: 0n, withdrawBlock: 0n, debt: 0n })
  } finally {
    await c.env.chain.close()
  }
})

test('tickets are bound to the chain id and the broker contract', async () => {
  const c = await ctx()
  try {
    await fund(c, 100n)
    await revertsCleanly(c, async () => redeem(c, await winner(c, { nonce: 0n, face: 1n, chainId: 1 })), 'TicketBrokerInvalidSignature')
    await revertsCleanly(c, async () => redeem(c, await winner(c, { nonce: 0n, face: 1n, broker: c.env.d.paymentChannel })), 'TicketBrokerInvalidSignature')
    // A second broker on the same chain rejects tickets signed for the first, and vice versa.
    const broker2 = await deployRaw(c.env, c.env.keys[0]!, C.TicketBrokerAbi, C.TicketBrokerBytecode, [c.env.d.token, BigInt(UNLOCK)])
    const for1 = await winner(c, { nonce: 0n, face: 1n })
    await expectRevert(() => send(c.env, c.payee, { address: broker2, abi: C.TicketBrokerAbi, functionName: 'redeemWinningTicket', args: [ticketArg(for1)] }), 'TicketBrokerInvalidSignature')
    await revertsCleanly(c, async () => redeem(c, await winner(c, { nonce: 0n, face: 1n, broker: broker2 })), 'TicketBrokerInvalidSignature')
    // A ticket naming a sender it was not signed by.
    await revertsCleanly(c, async () => redeem(c, await winner(c, { nonce: 0n, face: 1n, key: c.outsider, sender: c.P })), 'TicketBrokerInvalidSignature')
    await redeem(c, for1)
    assert.equal(await bal(c, c.R), 1n)
  } finally {
    await c.env.chain.close()
  }
})

test('expiry, wrong rand, losing tickets and replays are rejected without side effects', async () => {
  const c = await ctx()
  try {
    await fund(c, 100n)
    const now = await c.env.chain.blockNumber()
    // The redeeming tx runs in block now + 1: a ticket expiring at `now` is late; at `now + 1` it is on time.
    await revertsCleanly(c, async () => redeem(c, await winner(c, { nonce: 0n, face: 1n, exp: now - 1n + 1n })), 'TicketBrokerTicketExpired')
    const onTime = await winner(c, { nonce: 0n, face: 1n, exp: (await c.env.chain.blockNumber()) + 1n })
    await revertsCleanly(c, () => redeem(c, { ...onTime, recipientRand: onTime.recipientRand + 1n }), 'TicketBrokerInvalidRecipientRand')
    const loser = await signTicket(c.env.chain.chainId, c.env.d.ticketBroker, c.payer, { ...onTime.ticket, winProb: 0n, expirationBlock: now + 100n }, onTime.recipientRand)
    await revertsCleanly(c, () => redeem(c, loser), 'TicketBrokerNotWinning')
    const live = await winner(c, { nonce: 5n, face: 3n })
    await redeem(c, live)
    assert.equal(await read<bigint>(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'nextNonce', [c.P, c.R, 0n]), 6n)
    const args = await revertsCleanly(c, () => redeem(c, live), 'TicketBrokerNonceUsed')
    assert.deepEqual(args.slice(2), [5n, 6n])
    // Lower nonces of the lane — including ones never redeemed — are dead too; the recipient redeems a lane in
    // nonce order.
    await revertsCleanly(c, async () => redeem(c, await winner(c, { nonce: 4n, face: 3n })), 'TicketBrokerNonceUsed')
    // Another lane of the same pair is independent: its seq 0 still pays, and lane 0 is untouched.
    await redeem(c, await winner(c, { nonce: (1n << 128n) | 0n, face: 1n }))
    assert.equal(await read<bigint>(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'nextNonce', [c.P, c.R, 1n]), (1n << 128n) | 1n)
    assert.equal(await read<bigint>(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'nextNonce', [c.P, c.R, 0n]), 6n)
    await assert.rejects(read(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'nextNonce', [c.P, c.R, 1n << 128n]), /TicketBrokerLaneOutOfRange/)
    // Another recipient's nonces are independent.
    await redeem(c, await winner(c, { nonce: 0n, face: 2n, recipient: c.R2 }), c.other)
    assert.equal(await bal(c, c.R2), 2n)
    assert.equal(await bal(c, c.R), 4n)
  } finally {
    await c.env.chain.close()
  }
})

test('a ticket with nonce 2^256 - 1 cannot wrap a lane counter and reopen old tickets for replay', async () => {
  const c = await ctx()
  try {
    await fund(c, 1000n)
    const first = await winner(c, { nonce: 0n, face: 10n })
    await redeem(c, first)
    // 2^256 - 1 is seq 2^128 - 1 of lane 2^128 - 1: it redeems (the lane's counter becomes 2^128, no wrap) and
    // touches no other lane. Before lanes, `senderNonce + 1` overflowed (first unchecked: replay; then Panic).
    const max = await winner(c, { nonce: MAX_UINT256, face: 10n })
    await redeem(c, max)
    assert.equal(await bal(c, c.R), 20n)
    await revertsCleanly(c, () => redeem(c, max), 'TicketBrokerNonceUsed')
    await revertsCleanly(c, () => redeem(c, first), 'TicketBrokerNonceUsed')
    assert.equal(await read<bigint>(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'nextNonce', [c.P, c.R, 0n]), 1n)
    // The lane is spent for good: nothing in it can ever be redeemed again.
    await revertsCleanly(c, async () => redeem(c, await winner(c, { nonce: MAX_UINT256 - 5n, face: 1n })), 'TicketBrokerNonceUsed')
  } finally {
    await c.env.chain.close()
  }
})

test('withdraw is blocked while claims are outstanding, and claims are paid oldest first, 32 per call', async () => {
  const c = await ctx()
  try {
    // 40 claims: 20 to R, then 20 to R2, faces 1..40, no funds at all.
    const sts1 = await Promise.all(Array.from({ length: 20 }, (_, i) => winner(c, { nonce: BigInt(i), face: BigInt(i + 1) })))
    const sts2 = await Promise.all(Array.from({ length: 20 }, (_, i) => winner(c, { nonce: BigInt(i), face: BigInt(i + 21), recipient: c.R2 })))
    await batch(c, sts1)
    await batch(c, sts2, c.other)
    assert.equal(await pending(c, c.P), 40n)
    assert.equal((await senderOf(c, c.P)).debt, 820n)
    await send(c.env, c.payer, { ...B(c), functionName: 'unlock' })
    await c.env.chain.dev!.mine(UNLOCK)
    await revertsCleanly(c, () => send(c.env, c.payer, { ...B(c), functionName: 'withdraw', args: [[]] }), 'TicketBrokerClaimsOutstanding')
    // Funding everything at once pays the 32 oldest claims, in order.
    const f = await fund(c, 1000n)
    const paid = parseEventLogs({ abi: C.TicketBrokerAbi, logs: f.logs, eventName: 'ClaimPaid' }).map((e) => (e.args as { amount: bigint }).amount)
    assert.deepEqual(paid, Array.from({ length: 32 }, (_, i) => BigInt(i + 1)))
    assert.equal(await pending(c, c.P), 8n)
    const outs = transferLogs(f.logs, c.env.d.token).filter((t) => t.from.toLowerCase() === c.env.d.ticketBroker.toLowerCase())
    assert.deepEqual(outs.map((t) => t.value), paid)
    // Anyone can push the rest along.
    const s = await send(c.env, c.outsider, { ...B(c), functionName: 'settleClaims', args: [c.P] })
    assert.equal(parseEventLogs({ abi: C.TicketBrokerAbi, logs: s.logs, eventName: 'ClaimPaid' }).length, 8)
    assert.equal(await bal(c, c.R), 210n)
    assert.equal(await bal(c, c.R2), 610n)
    assert.deepEqual(await senderOf(c, c.P), { deposit: 180n, withdrawBlock: (await senderOf(c, c.P)).withdrawBlock, debt: 0n })
    await send(c.env, c.payer, { ...B(c), functionName: 'withdraw', args: [[]] })
    assert.equal((await senderOf(c, c.P)).deposit, 0n)
  } finally {
    await c.env.chain.close()
  }
})

test('batch redemption pays each recipient with exactly one token transfer', async () => {
  const c = await ctx()
  try {
    await fund(c, 10_000n)
    await fund(c, 10_000n, c.outsider)
    const sts: SignedTicket[] = []
    for (let i = 0; i < 10; i++) sts.push(await winner(c, { nonce: BigInt(i), face: 7n, key: i % 2 ? c.outsider : c.payer }))
    const rc = await batch(c, sts)
    const ts = transferLogs(rc.logs, c.env.d.token)
    assert.equal(ts.length, 1)
    assert.deepEqual(ts[0], { from: c.env.d.ticketBroker.toLowerCase(), to: c.R.toLowerCase(), value: 70n })
    assert.equal(parseEventLogs({ abi: C.TicketBrokerAbi, logs: rc.logs, eventName: 'WinningTicketRedeemed' }).length, 10)
    // Out of order within one sender's lane, or a ticket for another recipient: the whole batch reverts.
    const a = await winner(c, { nonce: 20n, face: 1n })
    const b = await winner(c, { nonce: 19n, face: 1n })
    await revertsCleanly(c, () => batch(c, [a, b]), 'TicketBrokerNonceUsed')
    await revertsCleanly(c, async () => batch(c, [a, await winner(c, { nonce: 0n, face: 1n, recipient: c.R2 })]), 'TicketBrokerNotRecipient')
    // Gas per ticket in a batch of 100 (reported, for the record against protocols.md §1).
    const many: SignedTicket[] = []
    for (let i = 0; i < 100; i++) many.push(await winner(c, { nonce: 100n + BigInt(i), face: 1n }))
    const big = await batch(c, many)
    assert.equal(transferLogs(big.logs, c.env.d.token).length, 1)
    console.log(`batch of 100 winning tickets: ${big.gasUsed} gas, ${big.gasUsed / 100n} per ticket`)
  } finally {
    await c.env.chain.close()
  }
})

test('channel: newer voucher wins a challenge, older is ignored, no early settle, forged vouchers rejected, settled channels never pay again', async () => {
  const c = await ctx()
  try {
    const id = await read<Hex>(c.env, c.env.d.paymentChannel, C.PaymentChannelAbi, 'nextChannelId', [c.P, c.R])
    await send(c.env, c.payer, { ...PC(c), functionName: 'open', args: [c.R, 100n] })
    const v = async (amount: bigint, key = c.payer) => signVoucher(c.env.chain.chainId, c.env.d.paymentChannel, key, id, amount)
    const v30 = await v(30n)
    const v60 = await v(60n)
    await expectRevert(async () => send(c.env, c.payee, { ...PC(c), functionName: 'collect', args: [id, 60n, await v(60n, c.outsider)] }), 'PaymentChannelInvalidVoucher')
    await expectRevert(() => send(c.env, c.outsider, { ...PC(c), functionName: 'collect', args: [id, 60n, v60] }), 'PaymentChannelNotRecipient')
    await send(c.env, c.payee, { ...PC(c), functionName: 'collect', args: [id, 30n, v30] })
    assert.equal(await bal(c, c.R), 30n)
    // The sender starts closing; the recipient answers with its newest voucher; an older one changes nothing.
    const sc = await send(c.env, c.payer, { ...PC(c), functionName: 'startClose', args: [id] })
    await expectRevert(() => send(c.env, c.outsider, { ...PC(c), functionName: 'settle', args: [id] }), 'PaymentChannelSettlePending')
    await send(c.env, c.outsider, { ...PC(c), functionName: 'challenge', args: [id, 60n, v60] })
    const older = await send(c.env, c.payee, { ...PC(c), functionName: 'challenge', args: [id, 30n, v30] })
    assert.equal(parseEventLogs({ abi: C.PaymentChannelAbi, logs: older.logs, eventName: 'ChannelChallenged' }).length, 0)
    let ch = await read<{ closingAmount: bigint; settleBlock: bigint }>(c.env, c.env.d.paymentChannel, C.PaymentChannelAbi, 'getChannel', [id])
    assert.equal(ch.closingAmount, 60n)
    assert.equal(ch.settleBlock, sc.blockNumber + BigInt(SETTLE))
    await expectRevert(() => send(c.env, c.payer, { ...PC(c), functionName: 'topUp', args: [id, 5n] }), 'PaymentChannelAlreadyClosing')
    // Not before settleBlock; a challenge at or after settleBlock is too late.
    const now = await c.env.chain.blockNumber()
    await c.env.chain.dev!.mine(Number(ch.settleBlock - now - 2n))
    await expectRevert(() => send(c.env, c.outsider, { ...PC(c), functionName: 'settle', args: [id] }), 'PaymentChannelSettlePending')
    await expectRevert(async () => send(c.env, c.payee, { ...PC(c), functionName: 'challenge', args: [id, 70n, await v(70n)] }), 'PaymentChannelSettlePending')
    const payerBefore = await bal(c, c.P)
    const st = await send(c.env, c.outsider, { ...PC(c), functionName: 'settle', args: [id] })
    const settled = parseEventLogs({ abi: C.PaymentChannelAbi, logs: st.logs, eventName: 'ChannelSettled' })[0]!.args as { toRecipient: bigint; toSender: bigint }
    assert.deepEqual([settled.toRecipient, settled.toSender], [30n, 40n])
    assert.equal(await bal(c, c.R), 60n)
    assert.equal(await bal(c, c.P), payerBefore + 40n)
    assert.equal(await bal(c, c.env.d.paymentChannel), 0n)
    ch = await read(c.env, c.env.d.paymentChannel, C.PaymentChannelAbi, 'getChannel', [id])
    assert.equal(ch.settleBlock, 0n)
    // Settled: every path to money is closed.
    const v90 = await v(90n)
    for (const [fn, args, k] of [['collect', [id, 90n, v90], c.payee], ['closeByRecipient', [id, 90n, v90], c.payee], ['settle', [id], c.outsider], ['challenge', [id, 90n, v90], c.payee], ['startClose', [id], c.payer], ['topUp', [id, 1n], c.payer]] as const) {
      await expectRevert(() => send(c.env, k, { ...PC(c), functionName: fn, args }), 'PaymentChannelUnknown')
    }
    assert.equal(await bal(c, c.R), 60n)

    // closeByRecipient settles at once with the best voucher; an older voucher cannot lower what was collected.
    const id2 = await read<Hex>(c.env, c.env.d.paymentChannel, C.PaymentChannelAbi, 'nextChannelId', [c.P, c.R])
    await send(c.env, c.payer, { ...PC(c), functionName: 'open', args: [c.R, 50n] })
    const w = (amount: bigint) => signVoucher(c.env.chain.chainId, c.env.d.paymentChannel, c.payer, id2, amount)
    await send(c.env, c.payee, { ...PC(c), functionName: 'collect', args: [id2, 20n, await w(20n)] })
    const cl = await send(c.env, c.payee, { ...PC(c), functionName: 'closeByRecipient', args: [id2, 10n, await w(10n)] })
    const s2 = parseEventLogs({ abi: C.PaymentChannelAbi, logs: cl.logs, eventName: 'ChannelSettled' })[0]!.args as { toRecipient: bigint; toSender: bigint }
    assert.deepEqual([s2.toRecipient, s2.toSender], [0n, 30n])
    assert.equal(await bal(c, c.R), 80n)
  } finally {
    await c.env.chain.close()
  }
})

// ------------------------------------------------------------------ attacks, performed as the attacker would
// Each runs the attacker's transaction and the victim's in ONE block, the attacker's first (automine off).

test("attack: a sender voids a recipient's winners with a self-signed ticket, front-running its batch", async () => {
  const c = await ctx()
  try {
    await send(c.env, c.payer, { ...B(c), functionName: 'fundReserve', args: [c.R, 500n] })
    // R accepted five winning tickets in its lane 0 (nonces 0..4), 20 each.
    const winners: SignedTicket[] = []
    for (let i = 0; i < 5; i++) winners.push(await winner(c, { nonce: BigInt(i), face: 20n }))
    // The sender signs a ticket to R under a rand of its own: face 0, always winning, a nonce above R's winners.
    const ownRand = 0xbadn
    const evil = await signTicket(c.env.chain.chainId, c.env.d.ticketBroker, c.payer, {
      recipient: c.R, sender: c.P, faceValue: 0n, winProb: MAX_UINT256, senderNonce: 10n, recipientRandHash: randHash(ownRand),
      expirationBlock: (await c.env.chain.blockNumber()) + 1000n,
    }, ownRand)
    const [attack, victim] = await sendTogether(c.env, [
      { key: c.payer, p: { ...B(c), functionName: 'redeemWinningTicket', args: [ticketArg(evil)] } },
      { key: c.payee, p: { ...B(c), functionName: 'batchRedeemWinningTickets', args: [winners.map(ticketArg)] } },
    ])
    assert.equal(attack!.receipt.blockNumber, victim!.receipt.blockNumber, 'both in one block')
    assert.ok(attack!.receipt.transactionIndex < victim!.receipt.transactionIndex, 'the attacker went first')
    assert.ok(!attack!.ok && attack!.error instanceof ContractRevertError && attack!.error.errorName === 'TicketBrokerNotRecipient', 'the sender cannot redeem a ticket of R')
    assert.ok(victim!.ok, 'R is paid for every winner')
    assert.equal(await bal(c, c.R), 100n)
    assert.equal(await pending(c, c.P), 0n)
    // The batch form, and a stranger relaying the evil ticket, fail the same way.
    await revertsCleanly(c, () => batch(c, [evil], c.payer), 'TicketBrokerNotRecipient')
    await revertsCleanly(c, () => redeem(c, evil, c.outsider), 'TicketBrokerNotRecipient')
    // Unlocking and withdrawing afterwards returns only what R was not owed.
    await send(c.env, c.payer, { ...B(c), functionName: 'unlock' })
    await c.env.chain.dev!.mine(UNLOCK)
    const before = await bal(c, c.P)
    await send(c.env, c.payer, { ...B(c), functionName: 'withdraw', args: [[c.R]] })
    assert.equal((await bal(c, c.P)) - before, 400n)
  } finally {
    await c.env.chain.close()
  }
})

test('attack: a stranger front-runs a pending batch with its highest-nonce ticket', async () => {
  const c = await ctx()
  try {
    await fund(c, 10_000n)
    const winners: SignedTicket[] = []
    for (let i = 0; i < 30; i++) winners.push(await winner(c, { nonce: BigInt(i), face: 7n }))
    // The stranger lifts the batch's highest-nonce ticket (its rand is in the pending calldata) and mines it first,
    // once alone and once as a one-ticket batch.
    const [single, asBatch, victim] = await sendTogether(c.env, [
      { key: c.outsider, p: { ...B(c), functionName: 'redeemWinningTicket', args: [ticketArg(winners[29]!)] } },
      { key: c.outsider, p: { ...B(c), functionName: 'batchRedeemWinningTickets', args: [[ticketArg(winners[29]!)]] } },
      { key: c.payee, p: { ...B(c), functionName: 'batchRedeemWinningTickets', args: [winners.map(ticketArg)] } },
    ])
    assert.equal(single!.receipt.blockNumber, victim!.receipt.blockNumber)
    for (const a of [single!, asBatch!]) assert.ok(!a.ok && (a.error as ContractRevertError).errorName === 'TicketBrokerNotRecipient', 'the stranger cannot redeem')
    assert.ok(victim!.ok, 'the batch pays all 30 (before the fix: 10 of 30)')
    assert.equal(await bal(c, c.R), 210n)
    // Replaying the revealed calldata afterwards: a stranger cannot; the recipient itself hits the used nonce.
    await revertsCleanly(c, () => batch(c, winners, c.outsider), 'TicketBrokerNotRecipient')
    await revertsCleanly(c, () => batch(c, winners), 'TicketBrokerNonceUsed')
  } finally {
    await c.env.chain.close()
  }
})

test("a recipient's processes in different lanes never void each other's winners", async () => {
  const c = await ctx()
  try {
    await fund(c, 10_000n)
    const lane = (l: bigint, seq: bigint) => (l << 128n) | seq
    // Process A holds lane 1 seqs 0..4; process B holds lane 2 seqs 0..9, and redeems first, up to seq 9.
    const a: SignedTicket[] = []
    const b: SignedTicket[] = []
    for (let i = 0n; i < 5n; i++) a.push(await winner(c, { nonce: lane(1n, i), face: 3n }))
    for (let i = 0n; i < 10n; i++) b.push(await winner(c, { nonce: lane(2n, i), face: 5n }))
    await batch(c, b)
    await batch(c, a)
    assert.equal(await bal(c, c.R), 65n)
    // Out of order across lanes inside one batch is fine; within a lane it is not.
    await batch(c, [await winner(c, { nonce: lane(2n, 20n), face: 1n }), await winner(c, { nonce: lane(1n, 7n), face: 1n }), await winner(c, { nonce: lane(2n, 21n), face: 1n })])
    assert.equal(await bal(c, c.R), 68n)
    await revertsCleanly(c, async () => batch(c, [await winner(c, { nonce: lane(1n, 9n), face: 1n }), await winner(c, { nonce: lane(1n, 8n), face: 1n })]), 'TicketBrokerNonceUsed')
  } finally {
    await c.env.chain.close()
  }
})

// ---------------------------------------------------------------- the run format (redeemRuns)

test('runs: tickets sharing their fields pay like the struct batch, with one event a run and one transfer a call', async () => {
  const c = await ctx()
  try {
    await fund(c, 1_000n)
    await send(c.env, c.payer, { ...B(c), functionName: 'fundReserve', args: [c.R, 30n] })
    // Two runs (two expiries): 5 + 3 tickets of 100, all paid from the deposit (it pays before the reserve).
    const exp1 = (await c.env.chain.blockNumber()) + 500n
    const sts: SignedTicket[] = []
    for (let i = 0; i < 8; i++) sts.push(await winner(c, { nonce: BigInt(i), face: 100n, exp: i < 5 ? exp1 : exp1 + 1n }))
    const r = await runs(c, sts)
    const evs = parseEventLogs({ abi: C.TicketBrokerAbi, logs: r.logs })
    const redeemed = evs.filter((e) => e.eventName === 'TicketsRedeemed')
    assert.equal(redeemed.length, 2, 'one TicketsRedeemed per run')
    assert.equal(evs.filter((e) => e.eventName === 'WinningTicketRedeemed').length, 0)
    assert.equal(transferLogs(r.logs, c.env.d.token).length, 1, 'one token transfer')
    // 8 × 100 = 800 from the 1,000 deposit.
    assert.equal(await bal(c, c.R), 800n)
    assert.equal((await senderOf(c, c.P)).deposit, 200n)
    assert.equal(await reserveOf(c, c.P, c.R), 30n, 'the reserve is untouched while the deposit pays')
    const seqs = redeemed.map((e) => (e.args as { seqs: Hex }).seqs)
    assert.deepEqual(seqs, ['0x' + [0, 1, 2, 3, 4].map((i) => i.toString(16).padStart(32, '0')).join(''), '0x' + [5, 6, 7].map((i) => i.toString(16).padStart(32, '0')).join('')])
    // Past the deposit: the reserve pays, then the rest queue as claims at full face.
    const more: SignedTicket[] = []
    for (let i = 8; i < 12; i++) more.push(await winner(c, { nonce: BigInt(i), face: 100n, exp: exp1 }))
    const r2 = await runs(c, more)
    const ev2 = parseEventLogs({ abi: C.TicketBrokerAbi, logs: r2.logs })
    const tr = ev2.find((e) => e.eventName === 'TicketsRedeemed')!.args as { fromDeposit: bigint; fromReserve: bigint; seqs: Hex }
    assert.deepEqual([tr.fromDeposit, tr.fromReserve], [200n, 0n], 'two paid from the deposit')
    assert.equal(ev2.filter((e) => e.eventName === 'ClaimQueued').length, 2, 'the two the funds cannot cover are claims')
    assert.equal(await pending(c, c.P), 2n)
  } finally {
    await c.env.chain.close()
  }
})

test('runs attack: a sender redeeming runs of its tickets to R under its own rand pays only itself and voids nothing', async () => {
  const c = await ctx()
  try {
    await send(c.env, c.payer, { ...B(c), functionName: 'fundReserve', args: [c.R, 500n] })
    const winners: SignedTicket[] = []
    for (let i = 0; i < 5; i++) winners.push(await winner(c, { nonce: BigInt(i), face: 20n }))
    // The sender signs a face-0 ticket to R under a rand of its own, nonce 10, and sends it as a run: the recipient
    // of a run is its caller, so the signature (made out to R) does not verify for the sender.
    const ownRand = 0xbadn
    const evil = await signTicket(c.env.chain.chainId, c.env.d.ticketBroker, c.payer, {
      recipient: c.R, sender: c.P, faceValue: 0n, winProb: MAX_UINT256, senderNonce: 10n, recipientRandHash: randHash(ownRand),
      expirationBlock: (await c.env.chain.blockNumber()) + 1000n,
    }, ownRand)
    const [attack, victim] = await sendTogether(c.env, [
      { key: c.payer, p: { ...B(c), functionName: 'redeemRuns', args: [runsArg([evil]), true] } },
      { key: c.payee, p: { ...B(c), functionName: 'redeemRuns', args: [runsArg(winners), true] } },
    ])
    assert.ok(attack!.receipt.transactionIndex < victim!.receipt.transactionIndex, 'the attacker went first')
    assert.ok(!attack!.ok && (attack!.error as ContractRevertError).errorName === 'TicketBrokerInvalidSignature', 'refused')
    assert.ok(victim!.ok, 'R is paid for every winner')
    assert.equal(await bal(c, c.R), 100n)
    // Self-dealing lanes are the sender's own: its own run of self-made tickets never touches R's lane.
    const self = await winner(c, { nonce: 50n, face: 0n, recipient: c.P })
    await runs(c, [self], c.payer)
    assert.equal(await read<bigint>(c.env, c.env.d.ticketBroker, C.TicketBrokerAbi, 'nextNonce', [c.P, c.R, 0n]), 5n)
  } finally {
    await c.env.chain.close()
  }
})

test('runs attack: a stranger lifting a pending run, and replays of a redeemed one, are refused by name', async () => {
  const c = await ctx()
  try {
    await fund(c, 10_000n)
    const winners: SignedTicket[] = []
    for (let i = 0; i < 30; i++) winners.push(await winner(c, { nonce: BigInt(i), face: 7n }))
    const [lift, liftCredit, victim] = await sendTogether(c.env, [
      { key: c.outsider, p: { ...B(c), functionName: 'redeemRuns', args: [runsArg(winners), true] } },
      { key: c.outsider, p: { ...B(c), functionName: 'redeemRuns', args: [runsArg([winners[29]!]), false] } },
      { key: c.payee, p: { ...B(c), functionName: 'redeemRuns', args: [runsArg(winners), true] } },
    ])
    for (const a of [lift!, liftCredit!]) assert.ok(!a.ok && (a.error as ContractRevertError).errorName === 'TicketBrokerInvalidSignature', 'the stranger cannot redeem')
    assert.ok(victim!.ok)
    assert.equal(await bal(c, c.R), 210n)
    assert.equal(await credit(c, c.O), 0n)
    await revertsCleanly(c, () => runs(c, winners, c.outsider), 'TicketBrokerInvalidSignature')
    await revertsCleanly(c, () => runs(c, winners), 'TicketBrokerNonceUsed')
    await revertsCleanly(c, () => runs(c, [winners[3]!]), 'TicketBrokerNonceUsed')
    // Replayed across formats: a ticket redeemed as a run is spent for the struct path too, and the other way.
    await revertsCleanly(c, () => batch(c, [winners[29]!]), 'TicketBrokerNonceUsed')
    const w = await winner(c, { nonce: 40n, face: 7n })
    await redeem(c, w)
    await revertsCleanly(c, () => runs(c, [w]), 'TicketBrokerNonceUsed')
  } finally {
    await c.env.chain.close()
  }
})

test('runs: bad shapes, high-s, wrong rand, expiry, losing draws, out-of-order seqs and a zero sender revert without side effects', async () => {
  const c = await ctx()
  try {
    await fund(c, 10_000n)
    const w = await winner(c, { nonce: 0n, face: 7n })
    const [arg] = runsArg([w])
    const call = (r: typeof arg[]) => send(c.env, c.payee, { ...B(c), functionName: 'redeemRuns', args: [r, true] })
    let args = await revertsCleanly(c, () => call([{ ...arg!, tickets: arg!.tickets.slice(0, -2) as Hex }]), 'TicketBrokerBadRun')
    assert.deepEqual(args, [0n, 111n])
    await revertsCleanly(c, () => call([arg!, { ...arg!, tickets: '0x' }]), 'TicketBrokerBadRun')
    await revertsCleanly(c, () => call([{ ...arg!, sender: '0x0000000000000000000000000000000000000000' }]), 'TicketBrokerZeroAddress')
    // The other encoding of the same signature (n - s, v flipped) has its top bit set: it decodes to another (v, s).
    await revertsCleanly(c, () => call(runsArg([{ ...w, ...highS(w) }])), 'TicketBrokerInvalidSignature')
    await revertsCleanly(c, () => call(runsArg([{ ...w, recipientRand: w.recipientRand + 1n }])), 'TicketBrokerInvalidSignature')
    const old = await winner(c, { nonce: 1n, face: 7n, exp: await c.env.chain.blockNumber() })
    await revertsCleanly(c, () => call(runsArg([old])), 'TicketBrokerTicketExpired')
    // A losing ticket: winProb 1 (the draw is a 256-bit hash: it loses).
    const rand = 77n
    const loser = await signTicket(c.env.chain.chainId, c.env.d.ticketBroker, c.payer, {
      recipient: c.R, sender: c.P, faceValue: 7n, winProb: 1n, senderNonce: 2n, recipientRandHash: randHash(rand), expirationBlock: (await c.env.chain.blockNumber()) + 100n,
    }, rand)
    await revertsCleanly(c, () => call(runsArg([loser])), 'TicketBrokerNotWinning')
    const a = await winner(c, { nonce: 5n, face: 7n })
    const b = await winner(c, { nonce: 4n, face: 7n, exp: a.ticket.expirationBlock })
    args = await revertsCleanly(c, () => call(runsArg([a, b])), 'TicketBrokerNonceUsed')
    assert.deepEqual(args.slice(2), [4n, 6n], 'seq 4 after seq 5 in one run')
    // One bad ticket reverts the whole call: the honest ones in it are not lost, they go through alone.
    await revertsCleanly(c, () => call([...runsArg([w]), ...runsArg([loser])]), 'TicketBrokerNotWinning')
    await call(runsArg([w]))
    assert.equal(await bal(c, c.R), 7n)
  } finally {
    await c.env.chain.close()
  }
})

test('runs credit: kept for the caller alone until it withdraws; nobody else can take it', async () => {
  const c = await ctx()
  try {
    await fund(c, 10_000n)
    const sts: SignedTicket[] = []
    for (let i = 0; i < 4; i++) sts.push(await winner(c, { nonce: BigInt(i), face: 25n }))
    const r = await runs(c, sts.slice(0, 3), c.payee, false)
    assert.equal(transferLogs(r.logs, c.env.d.token).length, 0, 'no token call when kept as credit')
    await runs(c, sts.slice(3), c.payee, false)
    assert.equal(await credit(c, c.R), 100n)
    assert.equal(await bal(c, c.R), 0n)
    assert.equal(await bal(c, c.env.d.ticketBroker), 10_000n, 'I1: the broker still holds the credit')
    await expectRevert(() => send(c.env, c.outsider, { ...B(c), functionName: 'withdrawCredit' }), 'TicketBrokerNoCredit')
    await expectRevert(() => send(c.env, c.payer, { ...B(c), functionName: 'withdrawCredit' }), 'TicketBrokerNoCredit')
    // The sender's unlock and withdrawal cannot reach it either.
    await send(c.env, c.payer, { ...B(c), functionName: 'unlock' })
    await c.env.chain.dev!.mine(UNLOCK)
    await send(c.env, c.payer, { ...B(c), functionName: 'withdraw', args: [[c.R]] })
    assert.equal(await bal(c, c.env.d.ticketBroker), 100n)
    const w = await send(c.env, c.payee, { ...B(c), functionName: 'withdrawCredit' })
    assert.equal(parseEventLogs({ abi: C.TicketBrokerAbi, logs: w.logs }).find((e) => e.eventName === 'CreditWithdrawn')!.args.amount, 100n)
    assert.equal(await bal(c, c.R), 100n)
    assert.equal(await credit(c, c.R), 0n)
    await expectRevert(() => send(c.env, c.payee, { ...B(c), functionName: 'withdrawCredit' }), 'TicketBrokerNoCredit')
  } finally {
    await c.env.chain.close()
  }
})
