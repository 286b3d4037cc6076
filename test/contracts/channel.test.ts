/**
 * PaymentChannel and vouchers above the deposit: a voucher is the sender's signed promise of a cumulative amount,
 * and the channel pays as much of it as it holds (`min(cumulativeAmount, deposit)`) instead of reverting. The
 * attack this closes: a recipient that accepted a voucher within a deposit the chain later forgets (a top-up
 * dropped by a reorg) must still be paid everything the channel holds, not be left with its last collection.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseEventLogs, type Address, type Hex } from 'viem'
import * as C from '../../artifacts/contracts.js'
import { MAX_UINT256, expectRevert, read, send, setupSouk, signVoucher, type SoukEnv } from './helpers.js'

const SETTLE = 10

interface Ctx { env: SoukEnv; payer: Hex; payee: Hex; outsider: Hex; P: Address; R: Address; O: Address }

async function ctx(): Promise<Ctx> {
  const env = await setupSouk({ accounts: 5, settleDelayBlocks: SETTLE })
  const [deployer, payer, payee, outsider] = env.keys as [Hex, Hex, Hex, Hex]
  await send(env, deployer, { address: env.d.token, abi: C.SoukTokenAbi, functionName: 'faucet', args: [env.addr(payer), 1_000n] })
  await send(env, payer, { address: env.d.token, abi: C.SoukTokenAbi, functionName: 'approve', args: [env.d.paymentChannel, MAX_UINT256] })
  return { env, payer, payee, outsider, P: env.addr(payer), R: env.addr(payee), O: env.addr(outsider) }
}

const PC = (c: Ctx) => ({ address: c.env.d.paymentChannel, abi: C.PaymentChannelAbi })
const bal = (c: Ctx, a: Address) => read<bigint>(c.env, c.env.d.token, C.SoukTokenAbi, 'balanceOf', [a])
const channel = (c: Ctx, id: Hex) => read<{ deposit: bigint; paid: bigint; closingAmount: bigint; settleBlock: bigint }>(c.env, c.env.d.paymentChannel, C.PaymentChannelAbi, 'getChannel', [id])
async function open(c: Ctx, deposit: bigint): Promise<{ id: Hex; v: (amount: bigint, key?: Hex) => Promise<Hex> }> {
  const id = await read<Hex>(c.env, c.env.d.paymentChannel, C.PaymentChannelAbi, 'nextChannelId', [c.P, c.R])
  await send(c.env, c.payer, { ...PC(c), functionName: 'open', args: [c.R, deposit] })
  return { id, v: (amount, key = c.payer) => signVoucher(c.env.chain.chainId, c.env.d.paymentChannel, key, id, amount) }
}
function settledArgs(logs: Parameters<typeof parseEventLogs>[0]['logs']) {
  const [e] = parseEventLogs({ abi: C.PaymentChannelAbi, logs, eventName: 'ChannelSettled' })
  assert.ok(e, 'ChannelSettled emitted')
  return [e.args.toRecipient, e.args.toSender]
}

test('attack: a voucher above the deposit', async () => {
  // The sender tops up, the recipient sees the larger deposit and accepts a voucher within it, keeping only that
  // one; then the block with the top-up is reorganised away (the sender's replacement transaction spends the
  // coins elsewhere) and the sender closes. Before the fix the recipient's only voucher reverted
  // PaymentChannelExceedsDeposit and the sender took back the whole deposit after the settle delay.
  const c = await ctx()
  try {
    const { id, v } = await open(c, 100n)
    const fork = await c.env.chain.dev!.snapshot()
    await send(c.env, c.payer, { ...PC(c), functionName: 'topUp', args: [id, 100n] })
    assert.equal((await channel(c, id)).deposit, 200n) // what the recipient reads before accepting
    const v150 = await v(150n) // accepted: 150 <= 200
    await c.env.chain.dev!.revert(fork) // the reorg: the branch without the top-up wins
    await send(c.env, c.payer, { address: c.env.d.token, abi: C.SoukTokenAbi, functionName: 'transfer', args: [c.O, 900n] })
    assert.equal((await channel(c, id)).deposit, 100n)
    await send(c.env, c.payer, { ...PC(c), functionName: 'startClose', args: [id] })
    const afterClose = await c.env.chain.dev!.snapshot()

    // The recipient answers the close with its voucher: it counts for the whole deposit.
    const ch = await send(c.env, c.payee, { ...PC(c), functionName: 'challenge', args: [id, 150n, v150] })
    const [challenged] = parseEventLogs({ abi: C.PaymentChannelAbi, logs: ch.logs, eventName: 'ChannelChallenged' })
    assert.equal(challenged?.args.closingAmount, 100n)
    await c.env.chain.dev!.mine(SETTLE)
    const st = await send(c.env, c.outsider, { ...PC(c), functionName: 'settle', args: [id] })
    assert.deepEqual(settledArgs(st.logs), [100n, 0n])
    assert.equal(await bal(c, c.R), 100n)
    assert.equal(await bal(c, c.env.d.paymentChannel), 0n)

    // Or it closes at once with it: the same.
    await c.env.chain.dev!.revert(afterClose)
    const cl = await send(c.env, c.payee, { ...PC(c), functionName: 'closeByRecipient', args: [id, 150n, v150] })
    assert.deepEqual(settledArgs(cl.logs), [100n, 0n])
    assert.equal(await bal(c, c.R), 100n)
  } finally {
    await c.env.chain.close()
  }
})

test('a voucher above the deposit pays up to the deposit, the rest after top-ups, and never more than it says', async () => {
  const c = await ctx()
  try {
    // collect: the whole deposit now, the rest as top-ups arrive, then nothing more.
    const a = await open(c, 100n)
    const v250 = await a.v(250n)
    const collect = () => send(c.env, c.payee, { ...PC(c), functionName: 'collect', args: [a.id, 250n, v250] })
    const collected = async () => parseEventLogs({ abi: C.PaymentChannelAbi, logs: (await collect()).logs, eventName: 'ChannelCollected' }).map((e) => [e.args.amount, e.args.paid])
    assert.deepEqual(await collected(), [[100n, 100n]])
    assert.deepEqual(await collected(), [])
    const after = await channel(c, a.id)
    assert.deepEqual([after.deposit, after.paid], [100n, 100n])
    await send(c.env, c.payer, { ...PC(c), functionName: 'topUp', args: [a.id, 100n] })
    assert.deepEqual(await collected(), [[100n, 200n]])
    await send(c.env, c.payer, { ...PC(c), functionName: 'topUp', args: [a.id, 100n] })
    assert.deepEqual(await collected(), [[50n, 250n]])
    assert.deepEqual(await collected(), [])
    // A forged voucher is refused whatever its amount; the recipient's own close pays nothing more than 250.
    await expectRevert(async () => send(c.env, c.payee, { ...PC(c), functionName: 'collect', args: [a.id, 300n, await a.v(300n, c.outsider)] }), 'PaymentChannelInvalidVoucher')
    const cl = await send(c.env, c.payee, { ...PC(c), functionName: 'closeByRecipient', args: [a.id, 250n, v250] })
    assert.deepEqual(settledArgs(cl.logs), [0n, 50n])
    assert.equal(await bal(c, c.R), 250n)

    // challenge while closing: the best voucher counts up to the (frozen) deposit; a second one above it adds nothing.
    const b = await open(c, 40n)
    await send(c.env, c.payer, { ...PC(c), functionName: 'startClose', args: [b.id] })
    await send(c.env, c.outsider, { ...PC(c), functionName: 'challenge', args: [b.id, 90n, await b.v(90n)] })
    assert.equal((await channel(c, b.id)).closingAmount, 40n)
    const again = await send(c.env, c.payee, { ...PC(c), functionName: 'challenge', args: [b.id, 95n, await b.v(95n)] })
    assert.equal(parseEventLogs({ abi: C.PaymentChannelAbi, logs: again.logs, eventName: 'ChannelChallenged' }).length, 0)
    await expectRevert(async () => send(c.env, c.payee, { ...PC(c), functionName: 'challenge', args: [b.id, 99n, await b.v(99n, c.outsider)] }), 'PaymentChannelInvalidVoucher')
    await c.env.chain.dev!.mine(SETTLE)
    assert.deepEqual(settledArgs((await send(c.env, c.outsider, { ...PC(c), functionName: 'settle', args: [b.id] })).logs), [40n, 0n])

    // closeByRecipient on an open channel with a voucher above the deposit: the deposit, the sender nothing.
    const d = await open(c, 30n)
    assert.deepEqual(settledArgs((await send(c.env, c.payee, { ...PC(c), functionName: 'closeByRecipient', args: [d.id, 31n, await d.v(31n)] })).logs), [30n, 0n])
    assert.equal(await bal(c, c.R), 250n + 40n + 30n)
    assert.equal(await bal(c, c.env.d.paymentChannel), 0n)
  } finally {
    await c.env.chain.close()
  }
})
