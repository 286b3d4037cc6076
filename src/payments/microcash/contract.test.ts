/**
 * Property test of ConcurrentLottery: random sequences of issue / mine / draw / redeem / duplicate proof / top-up /
 * unlock / withdraw driven through the embedded EVM and compared after every step with a TypeScript reference model.
 * Checked after each step: M1 token.balanceOf(lottery) == Σ balance + Σ penalty (and every party's balance equals
 * the model's), M2 balance >= committed, every escrow field equals the model; per draw the sum paid never exceeds
 * W·V; a proven duplicate pays the whole penalty to the two servers it names.
 * SOUK_TEST_SCALE=nightly runs 10x the steps.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Address, Hex } from 'viem'
import { createChain } from '../../chain/chain.js'
import { deploySouk, faucet } from '../../chain/deploy.js'
import { ContractRevertError } from '../../chain/errors.js'
import { abis } from '../../chain/index.js'
import { openDatabase } from '../../core/db.js'
import {
  createEscrow, deployConcurrentLottery, getEscrow, proveDuplicate, recordDraw, redeemWinners, seedOf, topUp, unlockEscrow, withdrawEscrow,
  type EscrowParams, type EscrowState, type SignedTicket,
} from './contract.js'
import { createIssuer, createSequenceAllocator, type Issuer } from './issuer.js'
import { drawBlockOf, winnerRank } from './ticket.js'

const STEPS = process.env.SOUK_TEST_SCALE === 'nightly' ? 5000 : 500

/** mulberry32: a small seeded PRNG. */
function rng(seed: number) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] }
}

interface ModelEscrow extends EscrowState { id: bigint; issuer: Issuer; cheat: Issuer; ownerKey: Hex }

test(`ConcurrentLottery matches its reference model over ${STEPS} random steps`, async (t) => {
  const seed = Number(process.env.SOUK_TEST_SEED ?? 20261125)
  const R = rng(seed)
  const chain = await createChain({ kind: 'embedded', accounts: 6, seed: `microcash-prop-${seed}` })
  try {
    const [deployer, s1, s2, ...serverKeys] = chain.devKeys
    const d = await deploySouk(chain, deployer)
    const lottery = await deployConcurrentLottery(chain, deployer, d.token)
    const addr = (k: Hex) => chain.wallet(k).account.address
    const servers = serverKeys.map(addr)
    const sponsors = [s1, s2]
    const tokens = new Map<string, bigint>() // model token balances of every party
    for (const k of sponsors) { await faucet(chain, deployer, d.token, addr(k), 10n ** 12n); tokens.set(addr(k), 10n ** 12n) }
    for (const s of servers) tokens.set(s, 0n)
    const bal = (a: Address) => chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [a] })
    const escrows: ModelEscrow[] = []
    const issued: SignedTicket[] = []
    const redeemed = new Set<string>() // `${escrow}:${round}:${seq}`
    const paidPerDraw = new Map<string, bigint>()
    const recorded = new Map<number, Hex>()
    const counts: Record<string, number> = {}
    const count = (k: string) => { counts[k] = (counts[k] ?? 0) + 1 }
    const block = async () => Number(await chain.blockNumber())
    const expiryOf = (e: ModelEscrow, end: number) => drawBlockOf(end - 1, e.roundLengthBlocks, e.drawDelayBlocks) + e.redeemWindowBlocks
    const truncate = (e: ModelEscrow, atBlock: number) => {
      const cur = Math.floor(atBlock / e.roundLengthBlocks)
      if (cur + 1 < e.endRound) {
        e.committed -= BigInt(e.endRound - (cur + 1)) * BigInt(e.winnersPerRound) * e.ticketValue
        e.endRound = cur + 1
        e.expiryBlock = expiryOf(e, e.endRound)
      }
    }
    const expectRevert = async (p: Promise<unknown>, name: string) => {
      await assert.rejects(p, (e: unknown) => { assert.ok(e instanceof ContractRevertError, String(e)); assert.equal(e.errorName, name); return true })
      count(`revert:${name}`)
    }

    async function open(ownerKey: Hex) {
      const p: EscrowParams = {
        ticketValue: BigInt(1 + R.int(1000)), ticketsPerRound: 8 + R.int(24), winnersPerRound: 1 + R.int(3), roundLengthBlocks: 2 + R.int(4),
        drawDelayBlocks: 1 + R.int(3), rounds: 20 + R.int(40), redeemWindowBlocks: 10 + R.int(40),
      }
      const need = p.ticketValue * BigInt(p.winnersPerRound * p.rounds)
      const balance = need + BigInt(R.int(3)) * p.ticketValue
      const penalty = BigInt(R.int(4) === 0 ? 0 : 1 + R.int(100_000))
      const id = await createEscrow(chain, ownerKey, { lottery, token: d.token, params: p, balance, penalty })
      const b = await block()
      const start = Math.floor(b / p.roundLengthBlocks)
      const mk = () => createIssuer({ chainId: chain.chainId, lottery, escrowId: id, privateKey: ownerKey, allocator: createSequenceAllocator(openDatabase(':memory:'), { ticketsPerRound: p.ticketsPerRound, reserveSize: 4 }) })
      const e: ModelEscrow = {
        id, ownerKey, issuer: mk(), cheat: mk(), owner: addr(ownerKey), ...p, startRound: start, endRound: start + p.rounds, expiryBlock: 0,
        unlocked: false, closed: false, withdrawn: false, balance, committed: need, penalty,
      }
      e.expiryBlock = expiryOf(e, e.endRound)
      escrows.push(e)
      tokens.set(e.owner, tokens.get(e.owner)! - balance - penalty)
      count('create')
    }
    await open(s1)
    await open(s2)

    async function seedFor(e: ModelEscrow, round: number, now: number): Promise<Hex | undefined> {
      const db = drawBlockOf(round, e.roundLengthBlocks, e.drawDelayBlocks)
      if (recorded.has(db)) return recorded.get(db)
      // The redemption transaction is mined at now + 1.
      if (now + 1 <= db || now + 1 - db > 256) return undefined
      return (await chain.public.getBlock({ blockNumber: BigInt(db) })).hash!
    }

    async function check() {
      let sumHeld = 0n
      for (const e of escrows) {
        const c = await getEscrow(chain, lottery, e.id)
        for (const k of ['balance', 'committed', 'penalty', 'startRound', 'endRound', 'expiryBlock', 'unlocked', 'closed', 'withdrawn'] as const) {
          assert.equal(c[k], e[k], `escrow ${e.id} ${k}`)
        }
        assert.ok(c.balance >= c.committed || c.withdrawn, 'M2 balance >= committed')
        sumHeld += c.balance + c.penalty
      }
      assert.equal(await bal(lottery), sumHeld, 'M1 money conserved')
      for (const [a, v] of tokens) assert.equal(await bal(a as Address), v, `token balance of ${a}`)
    }

    for (let step = 0; step < STEPS; step++) {
      let now = await block()
      const live = escrows.filter((x) => !x.withdrawn && !x.unlocked && !x.closed && Math.floor(now / x.roundLengthBlocks) < x.endRound)
      if (live.length < 2) { await open(R.pick(sponsors)); now = await block() }
      // Mostly act on escrows still issuing; sometimes on any (ended, unlocked, closed, withdrawn).
      const e = R.int(4) === 0 ? R.pick(escrows) : R.pick(escrows.filter((x) => !x.withdrawn && Math.floor(now / x.roundLengthBlocks) < x.endRound).concat(escrows.slice(-1)))
      const cur = Math.floor(now / e.roundLengthBlocks)
      const op = R.next()
      if (op < 0.35) {
        // issue tickets for the current round (honest), sometimes a duplicate from a second allocator
        if (cur < e.startRound || cur >= e.endRound || e.withdrawn) { count('skip'); continue }
        try {
          const dup = R.int(6) === 0
          const iss = dup ? e.cheat : e.issuer
          const ts = R.int(2) === 0 ? [iss.issueOne(cur, R.pick(servers))] : iss.issueBundle(cur, servers.slice(0, 1 + R.int(servers.length)).map((s) => ({ server: s, count: 1 + R.int(3) })))
          issued.push(...ts)
          count(dup ? 'issue-dup' : 'issue')
        } catch { count('schedule-full') }
      } else if (op < 0.45) {
        await chain.dev!.mine(1 + R.int(e.roundLengthBlocks))
        count('mine')
      } else if (op < 0.75) {
        // redeem the winners one server holds in one escrow (the first server, from a random start, that has some)
        const start = R.int(servers.length)
        let server = servers[start]
        if (now + 1 > e.expiryBlock) {
          const any = issued.find((t) => t.escrowId === e.id && t.server === server)
          if (any) await expectRevert(redeemWinners(chain, serverKeys[servers.indexOf(server)], lottery, e.id, server, [any]), 'ConcurrentLotteryEscrowExpired')
          continue
        }
        let batch: SignedTicket[] = []
        let loser: SignedTicket | undefined
        let stolen: SignedTicket | undefined
        for (let j = 0; j < servers.length && batch.length === 0; j++) {
          server = servers[(start + j) % servers.length]
          const keys = new Set<string>()
          batch = []
          loser = stolen = undefined
          for (const t of issued) {
            if (t.escrowId !== e.id || t.server !== server) continue
            const sd = await seedFor(e, t.round, now)
            if (!sd) continue
            const k = `${e.id}:${t.round}:${t.seq}`
            const rank = winnerRank(sd, e.id, t.round, t.seq, e.ticketsPerRound)
            if (rank >= e.winnersPerRound) { loser ??= t; continue }
            if (redeemed.has(k)) { stolen ??= t; continue }
            if (keys.has(k)) continue
            keys.add(k)
            batch.push(t)
          }
        }
        const bad = R.int(5) === 0 ? (R.int(2) === 0 ? loser : stolen) : undefined
        const key = serverKeys[servers.indexOf(server)]
        if (bad) {
          const err = bad === loser ? 'ConcurrentLotteryNotWinning' : 'ConcurrentLotteryAlreadyRedeemed'
          await expectRevert(redeemWinners(chain, key, lottery, e.id, server, [...batch, bad]), err)
          continue
        }
        if (batch.length === 0) { count('nothing-to-redeem'); continue }
        const r = await redeemWinners(chain, key, lottery, e.id, server, batch)
        assert.equal(r.status, 'success')
        for (const t of batch) {
          redeemed.add(`${e.id}:${t.round}:${t.seq}`)
          const dk = `${e.id}:${t.round}`
          const paid = (paidPerDraw.get(dk) ?? 0n) + e.ticketValue
          assert.ok(paid <= BigInt(e.winnersPerRound) * e.ticketValue, `draw ${dk} paid more than W·V`)
          paidPerDraw.set(dk, paid)
          const db = drawBlockOf(t.round, e.roundLengthBlocks, e.drawDelayBlocks)
          if (!recorded.has(db)) recorded.set(db, (await seedOf(chain, lottery, db))!)
        }
        const amount = BigInt(batch.length) * e.ticketValue
        e.balance -= amount
        e.committed -= amount
        tokens.set(server, tokens.get(server)! + amount)
        count('redeem')
      } else if (op < 0.83) {
        // prove a duplicate, if the model knows one
        let pair: [SignedTicket, SignedTicket] | undefined
        const byKey = new Map<string, SignedTicket>()
        for (const t of issued) {
          if (t.escrowId !== e.id) continue
          const k = `${t.round}:${t.seq}`
          const o = byKey.get(k)
          if (o && o.server !== t.server) { pair = [o, t]; break }
          if (!o) byKey.set(k, t)
        }
        if (!pair) { count('no-duplicate'); continue }
        const prover = serverKeys[R.int(serverKeys.length)]
        if (e.closed || e.withdrawn) { await expectRevert(proveDuplicate(chain, prover, lottery, pair[0], pair[1]), 'ConcurrentLotteryEscrowClosed'); continue }
        const r = await proveDuplicate(chain, prover, lottery, pair[0], pair[1])
        const pen = e.penalty
        const half = pen / 2n
        tokens.set(pair[0].server, tokens.get(pair[0].server)! + pen - half)
        tokens.set(pair[1].server, tokens.get(pair[1].server)! + half)
        e.penalty = 0n
        e.closed = true
        truncate(e, Number(r.blockNumber))
        count('prove-duplicate')
      } else if (op < 0.89) {
        const amount = BigInt(R.int(3) * 1000)
        const penalty = BigInt(R.int(2) * 500)
        const extra = R.int(3)
        const args = { lottery, token: d.token, escrowId: e.id, amount, penalty, extraRounds: extra }
        const addCommit = BigInt(extra) * BigInt(e.winnersPerRound) * e.ticketValue
        const approveExtra = amount + penalty > 0n ? 1 : 0
        const at = now + 1 + approveExtra
        const reason = e.closed ? 'ConcurrentLotteryEscrowClosed' : e.unlocked ? 'ConcurrentLotteryAlreadyUnlocked' : at > e.expiryBlock ? 'ConcurrentLotteryEscrowExpired'
          : amount + penalty === 0n && extra === 0 ? 'ConcurrentLotteryZeroAmount' : e.balance + amount < e.committed + addCommit && extra > 0 ? 'ConcurrentLotteryUnderfunded' : undefined
        if (reason) { await expectRevert(topUp(chain, e.ownerKey, args), reason); continue }
        await topUp(chain, e.ownerKey, args)
        e.balance += amount
        e.penalty += penalty
        if (extra) { e.committed += addCommit; e.endRound += extra; e.expiryBlock = expiryOf(e, e.endRound) }
        tokens.set(e.owner, tokens.get(e.owner)! - amount - penalty)
        count('top-up')
      } else if (op < 0.905) {
        if (e.unlocked) { await expectRevert(unlockEscrow(chain, e.ownerKey, lottery, e.id), 'ConcurrentLotteryAlreadyUnlocked'); continue }
        const r = await unlockEscrow(chain, e.ownerKey, lottery, e.id)
        e.unlocked = true
        truncate(e, Number(r.blockNumber))
        count('unlock')
      } else if (op < 0.97) {
        const at = now + 1
        const reason = at <= e.expiryBlock ? 'ConcurrentLotteryNotExpired' : e.withdrawn || e.balance + e.penalty === 0n ? 'ConcurrentLotteryNothingToWithdraw' : undefined
        // Someone else than the owner may never withdraw.
        if (R.int(6) === 0) { await expectRevert(withdrawEscrow(chain, serverKeys[0], lottery, e.id), 'ConcurrentLotteryNotOwner'); continue }
        if (reason) { await expectRevert(withdrawEscrow(chain, e.ownerKey, lottery, e.id), reason); continue }
        await withdrawEscrow(chain, e.ownerKey, lottery, e.id)
        tokens.set(e.owner, tokens.get(e.owner)! + e.balance + e.penalty)
        e.balance = 0n
        e.penalty = 0n
        e.committed = 0n
        e.withdrawn = true
        count('withdraw')
        if (escrows.filter((x) => !x.withdrawn).length < 2) await open(e.ownerKey)
      } else {
        // record a recent draw
        const round = cur - 1 - R.int(3)
        const db = drawBlockOf(round, e.roundLengthBlocks, e.drawDelayBlocks)
        if (db < 1 || recorded.has(db)) { count('skip'); continue }
        if (now + 1 <= db) { await expectRevert(recordDraw(chain, serverKeys[0], lottery, db), 'ConcurrentLotteryDrawNotReached'); continue }
        await recordDraw(chain, serverKeys[0], lottery, db)
        recorded.set(db, (await seedOf(chain, lottery, db))!)
        count('record-draw')
      }
      await check()
    }
    t.diagnostic(`seed ${seed}: ${JSON.stringify(counts)}`)
    // Every kind of step ran at least once.
    for (const k of ['issue', 'issue-dup', 'mine', 'redeem', 'prove-duplicate', 'top-up', 'unlock', 'withdraw']) assert.ok((counts[k] ?? 0) > 0, `step ${k} never ran: ${JSON.stringify(counts)}`)
  } finally {
    await chain.close()
  }
})
