/**
 * `ConcurrentLottery.redeemPacked` (the packed calldata of `packRedemption`): winners of several escrows redeemed
 * by one server in one transaction pay and record exactly what `redeemWinningTickets` per escrow would; Merkle path
 * nodes shared by a bundle's tickets are sent once; malformed or forged data reverts by name.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeEventLog, encodeFunctionData, type Address, type Hex } from 'viem'
import { deploySouk } from '../deploy.js'
import { createChain } from '../../chain/chain.js'
import { faucet, write } from '../../chain/index.js'
import { ContractRevertError } from '../../chain/errors.js'
import { SoukTokenAbi } from '../../../artifacts/contracts.js'
import { bytesToHex, hexToBytes } from '../../crypto/index.js'
import { testComponents } from '../testing.js'
import { openSqliteSequenceStore } from './store.js'
import { createIssuer, createSequenceAllocator } from './issuer.js'
import { ConcurrentLotteryAbi, createEscrow, deployConcurrentLottery, getEscrow, isPaidTo, packRedemption, redeemWinnersPacked, toBundles, unpackRedemption, type EscrowParams, type SignedTicket } from './contract.js'
import { drawBlockOf, roundAt, winnerRank } from './ticket.js'

// p = 16/64: a bundle of 32 holds several winners (their paths share nodes).
const PARAMS: EscrowParams = { ticketValue: 1000n, ticketsPerRound: 64, winnersPerRound: 16, roundLengthBlocks: 8, drawDelayBlocks: 2, rounds: 20, redeemWindowBlocks: 200 }

async function setup() {
  const chain = await createChain({ kind: 'embedded', accounts: 5, seed: 'microcash-packed' })
  const [deployer, s1, s2, serverKey, otherKey] = chain.devKeys
  const d = await deploySouk(chain, deployer)
  const lottery = await deployConcurrentLottery(chain, deployer, d.token)
  const addr = (k: Hex) => chain.wallet(k).account.address
  const balance = PARAMS.ticketValue * BigInt(PARAMS.winnersPerRound * PARAMS.rounds)
  const escrows: { id: bigint; key: Hex }[] = []
  for (const k of [s1, s2]) {
    await faucet(chain, deployer, d.token, addr(k), balance)
    escrows.push({ id: await createEscrow(chain, k, { lottery, token: d.token, params: PARAMS, balance, penalty: 0n }), key: k })
  }
  const issuers = escrows.map((e, i) => createIssuer({ chainId: chain.chainId, lottery, escrowId: e.id, privateKey: e.key, allocator: createSequenceAllocator(openSqliteSequenceStore(':memory:'), { ticketsPerRound: 64, reserveSize: 8 }), ...testComponents(`microcash-packed.test/issuer-${i}`) }))
  const server = addr(serverKey)
  const bal = (a: Address) => chain.public.readContract({ address: d.token, abi: SoukTokenAbi, functionName: 'balanceOf', args: [a] })
  return { chain, d, lottery, escrows, issuers, server, serverKey, otherKey, other: addr(otherKey), bal }
}

/** Tickets of the current round for `server` (a bundle of 32 and 24 single-signed from each issuer), then the draw. */
async function issueAndDraw(s: Awaited<ReturnType<typeof setup>>) {
  const round = roundAt(await s.chain.blockNumber(), PARAMS.roundLengthBlocks)
  const all: SignedTicket[] = []
  // 24 single-signed tickets each: with p = 1/4 some of them win whatever the draw (all 48 lose with odds 0.75^48 ≈ 10^-6).
  for (const iss of s.issuers) all.push(...iss.issueBundle(round, [{ server: s.server, count: 32 }]), ...Array.from({ length: 24 }, () => iss.issueOne(round, s.server)))
  const db = drawBlockOf(round, PARAMS.roundLengthBlocks, PARAMS.drawDelayBlocks)
  await s.chain.dev!.mine(db + 1 - Number(await s.chain.blockNumber()))
  const seed = (await s.chain.public.getBlock({ blockNumber: BigInt(db) })).hash!
  const wins = (t: SignedTicket) => winnerRank(seed, t.escrowId, t.round, t.seq, PARAMS.ticketsPerRound) < PARAMS.winnersPerRound
  return { winners: all.filter(wins), losers: all.filter((t) => !wins(t)) }
}

const revertsWith = (p: Promise<unknown>, name: string) =>
  assert.rejects(p, (e: unknown) => { assert.ok(e instanceof ContractRevertError, String(e)); assert.equal(e.errorName, name, e.message); return true })

test('redeemPacked: winners of two escrows in one transaction, one transfer; each escrow paid and recorded as redeemWinningTickets records it; a replay is refused', async () => {
  const s = await setup()
  try {
    const { winners } = await issueAndDraw(s)
    assert.ok(winners.length >= 8, `enough winners drawn (${winners.length})`)
    const before = await s.bal(s.server)
    const escBefore = await Promise.all(s.escrows.map((e) => getEscrow(s.chain, s.lottery, e.id)))
    // Sent by another account: the money still goes to the server.
    const r = await redeemWinnersPacked(s.chain, s.otherKey, s.lottery, s.server, winners)
    const events = r.logs.flatMap((l) => { try { return [decodeEventLog({ abi: ConcurrentLotteryAbi, data: l.data, topics: l.topics })] } catch { return [] } })
      .filter((e) => e.eventName === 'WinnersRedeemed') as { args: { escrowId: bigint; server: Address; count: bigint; amount: bigint } }[]
    assert.equal(events.length, 2, 'one WinnersRedeemed per escrow')
    for (const [i, e] of s.escrows.entries()) {
      const n = winners.filter((t) => t.escrowId === e.id).length
      const ev = events.find((x) => x.args.escrowId === e.id)!
      assert.equal(ev.args.count, BigInt(n))
      assert.equal(ev.args.amount, BigInt(n) * PARAMS.ticketValue)
      assert.equal(ev.args.server, s.server)
      const after = await getEscrow(s.chain, s.lottery, e.id)
      assert.equal(after.balance, escBefore[i].balance - BigInt(n) * PARAMS.ticketValue)
      assert.equal(after.committed, escBefore[i].committed - BigInt(n) * PARAMS.ticketValue)
    }
    assert.equal(await s.bal(s.server), before + BigInt(winners.length) * PARAMS.ticketValue)
    for (const t of winners) assert.equal(await isPaidTo(s.chain, s.lottery, t.escrowId, t.round, t.seq, s.server), true)
    const transfers = r.logs.filter((l) => l.address.toLowerCase() === s.d.token.toLowerCase())
    assert.equal(transfers.length, 1, 'one token transfer')
    await revertsWith(redeemWinnersPacked(s.chain, s.serverKey, s.lottery, s.server, winners.slice(-1)), 'ConcurrentLotteryAlreadyRedeemed')

    // Packed calldata: smaller than the ABI form per escrow, a shared node sent once.
    const packed = (hexToBytes(packRedemption(s.server, winners)).length)
    const abiBytes = s.escrows.reduce((a, e) => a + (encodeFunctionData({ abi: ConcurrentLotteryAbi, functionName: 'redeemWinningTickets', args: [e.id, s.server, toBundles(winners.filter((t) => t.escrowId === e.id))] }).length - 2) / 2, 0)
    const pathNodes = winners.reduce((a, t) => a + t.proof.length, 0)
    const distinct = new Set(winners.flatMap((t) => t.proof.map((h) => `${t.sig}:${h}`))).size
    assert.ok(distinct < pathNodes, `shared nodes among ${winners.length} winners (${distinct} distinct of ${pathNodes})`)
    assert.ok(packed < abiBytes / 2, `packed ${packed} bytes vs ABI ${abiBytes}`)
  } finally {
    await s.chain.close()
  }
})

test('redeemPacked refuses by name: a losing ticket, a forged salt (batch: BadMerkleProof; single: InvalidSignature), malformed data, a zero server, an unknown escrow', async () => {
  const s = await setup()
  try {
    const { winners, losers } = await issueAndDraw(s)
    const send = (data: Hex, server = s.server) => write(s.chain, s.chain.wallet(s.serverKey), { address: s.lottery, abi: ConcurrentLotteryAbi, functionName: 'redeemPacked', args: [server, data] })
    const batchW = winners.filter((t) => t.batch && t.escrowId === s.escrows[0].id)
    // A single-signed winner: its draw passes, so the forged salt fails on the signature.
    const single = winners.find((t) => !t.batch)!
    const loser = losers.find((t) => t.batch)!
    await revertsWith(redeemWinnersPacked(s.chain, s.serverKey, s.lottery, s.server, [...batchW, loser]), 'ConcurrentLotteryNotWinning')
    const forged = (t: SignedTicket): SignedTicket => ({ ...t, salt: bytesToHex(hexToBytes(t.salt).map((b, i) => (i === 0 ? b ^ 1 : b))) })
    await revertsWith(redeemWinnersPacked(s.chain, s.serverKey, s.lottery, s.server, [batchW[0], forged(batchW[1])]), 'ConcurrentLotteryBadMerkleProof')
    await revertsWith(redeemWinnersPacked(s.chain, s.serverKey, s.lottery, s.server, [forged(single)]), 'ConcurrentLotteryInvalidSignature')
    const good = packRedemption(s.server, batchW)
    await revertsWith(send(good.slice(0, -2) as Hex), 'ConcurrentLotteryBadPacking') // one byte short
    await revertsWith(send(`${good}00` as Hex), 'ConcurrentLotteryBadPacking') // a byte of a group too many
    const b = hexToBytes(good)
    const kind2 = b.slice(); kind2[10] = 2
    await revertsWith(send(bytesToHex(kind2)), 'ConcurrentLotteryBadPacking')
    const badRef = b.slice(); badRef[10 + 76 + 32 * b[10 + 75] + 37] = 0xff // the first ticket's first node index
    await revertsWith(send(bytesToHex(badRef)), 'ConcurrentLotteryBadPacking')
    const asSingle = b.slice(); asSingle[10] = 0 // a batch bundle declared single-signed
    await revertsWith(send(bytesToHex(asSingle)), 'ConcurrentLotterySingleTicketBundle')
    await revertsWith(send(good, '0x0000000000000000000000000000000000000000'), 'ConcurrentLotteryZeroAddress')
    const unknown = b.slice(); unknown[7] = 99
    await revertsWith(send(bytesToHex(unknown)), 'ConcurrentLotteryUnknownEscrow')
    // Nothing was paid by the refusals; the good data still redeems.
    await send(good)
    for (const t of batchW) assert.equal(await isPaidTo(s.chain, s.lottery, t.escrowId, t.round, t.seq, s.server), true)
  } finally {
    await s.chain.close()
  }
})

test('packRedemption refuses a ticket of another server', () => {
  const t = { escrowId: 1n, server: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', round: 1, seq: 0, salt: `0x${'11'.repeat(32)}`, batch: false, proof: [], sig: `0x${'22'.repeat(64)}1b` } as SignedTicket
  assert.throws(() => packRedemption('0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC', [t]), RangeError)
  assert.ok(packRedemption(t.server, [t]).length > 2)
})

test('unpackRedemption reads back exactly the tickets packRedemption packed (batch and single, shared nodes, two escrows), and refuses cut bytes', async () => {
  const s = await setup()
  try {
    const { winners, losers } = await issueAndDraw(s)
    const all = [...winners, ...losers]
    const packed = packRedemption(s.server, all)
    const back = unpackRedemption(s.server, packed)
    const key = (t: SignedTicket) => `${t.escrowId}:${t.round}:${t.seq}`
    // Everything the contract needs; the bundle's root is not sent (the contract rebuilds it from the paths).
    const norm = (t: SignedTicket) => ({ escrowId: t.escrowId, server: t.server.toLowerCase(), round: t.round, seq: t.seq, salt: t.salt.toLowerCase(), batch: t.batch, proof: t.proof.map((p) => p.toLowerCase()), sig: t.sig.toLowerCase() })
    const want = new Map(all.map((t) => [key(t), norm(t)]))
    assert.equal(back.length, all.length)
    for (const t of back) assert.deepEqual(norm(t), want.get(key(t)), key(t))
    assert.throws(() => unpackRedemption(s.server, packed.slice(0, -2) as Hex), RangeError)
  } finally {
    await s.chain.close()
  }
})
