/**
 * MicroCash against its real baseline (issue 16): the whole escrow lifecycle — open, fund, issue, redeem, close — for
 * K concurrent payers each paying S servers, measured on the embedded EVM with real tickets (real signatures, real
 * draws), in both schemes at the same face value and win probability p.
 *
 * - Baseline: one TicketBroker escrow per payer-server stream, i.e. a reserve the payer funds for that server only.
 *   Per payer: `approve` once, `fundReserve(server, r)` per server. Tickets per stream: EIP-712 tickets signed one by
 *   one, lane 0, seq counting up, the server's committed rand rotated after every winner (as LotteryPayee does);
 *   the server checks each: digest, recover, draw. Redemption: per server one transaction with the winners of
 *   every payer (`redeemRuns`, one run per payer, when the broker's ABI has it; else `batchRedeemWinningTickets`).
 *   Close, per payer: `unlock`, then after the unlock period `withdraw(servers)`.
 * - MicroCash: one ConcurrentLottery escrow per payer serving all S servers. Per payer: `approve` + `createEscrow`
 *   (one round of N = S·T numbers, W = p·N winners, a penalty deposit of W·V). Tickets: bundles of `bundleSize` for
 *   one server, batch-signed; the server checks each ticket's leaf and path up to a node it has proven and recovers
 *   once per bundle; after the draw it ranks each ticket it holds. Redemption: per server one `redeemPacked` with
 *   the winners of every escrow. Close, per payer: `withdraw` after the expiry declared at opening (a schedule ends
 *   by itself; `unlock` would only stop one early).
 *
 * Counted per scheme: every transaction of the lifecycle (token distribution to the payers precedes it and is not
 * counted), gas summed from receipts, bytes = calldata bytes of those transactions, and tickets/s = tickets over
 * the wall time of issue + verify + win check off chain (both sides in this process, one core). The accounting is
 * checked: every winner the servers hold is paid exactly once (events), the money a payer lost is what its servers
 * gained, and nothing is left in either contract.
 */
import type { Address, Hex, TransactionReceipt } from 'viem'
import { decodeEventLog } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { createChain, faucet, write, abis, type Chain } from '../src/chain/index.js'
import { deploySouk } from '../src/payments/deploy.js'
import { signDigest, recoverDigest, hexToBytes, bytesToHex, writeWord } from '../src/crypto/index.js'
import { pooledSystemRng } from '../src/crypto/rng.js'
import { ticketDomain, ticketDigest, randHash, ticketDraw, MAX_WIN_PROB, type Ticket } from '../src/payments/lottery/ticket.js'
import {
  deployConcurrentLottery, createIssuer, createSequenceAllocator, microcashDomain, ticketHash, batchDigest, hashPair, winnerRank,
  drawBlockOf, roundAt, packRedemption, ConcurrentLotteryAbi, type EscrowParams, type SignedTicket,
} from '../src/payments/microcash/index.js'
import { toParams } from '../src/payments/microcash/contract.js'
import { openSqliteSequenceStore } from '../src/payments/microcash/store.js'

export interface LifecycleOptions {
  /** Concurrent payers. */
  K: number
  /** Servers, each paid by every payer. */
  S: number
  /** Tickets per payer-server stream. */
  ticketsPerStream: number
  /** Win probability 1/winDenominator for both schemes (S·T must be a multiple of it: W = S·T/winDenominator). */
  winDenominator: number
  /** MicroCash bundle size (tickets under one signature, all to one server). Default 64. */
  bundleSize?: number
  /** TicketBroker unlock period in blocks. Default 20. */
  unlockPeriodBlocks?: number
  seed?: string
  log?: (s: string) => void
}

export interface PhaseCost { gas: number; bytes: number; txs: number }
export interface SchemeLifecycle {
  gas: number
  bytes: number
  txs: number
  phases: { open: PhaseCost; redeem: PhaseCost; close: PhaseCost }
  tickets: number
  /** Winning tickets the servers held (and redeemed). */
  winners: number
  /** Winners the contract's events say it paid. */
  redeemed: number
  /** Token units paid to servers (events), = winners × face value. */
  paid: bigint
  /** Token units the payers locked in escrow at opening (balance + penalty, or reserves). */
  locked: bigint
  ticketsPerSecond: number
  /** Token balance the contract holds for these payers at the end (0: everything paid or returned). */
  leftInContract: bigint
  /** Σ payer losses − Σ server gains (0: money conserved). */
  imbalance: bigint
}

export interface LifecycleResult {
  K: number
  S: number
  ticketsPerStream: number
  winProbability: number
  bundleSize: number
  /** 'redeemRuns' or 'batchRedeemWinningTickets': the baseline's redemption call. */
  baselineRedeem: string
  microcash: SchemeLifecycle
  baseline: SchemeLifecycle
  /** baseline / microcash: > 1 means MicroCash spends less. */
  gasRatio: number
  bytesRatio: number
}

const FACE = 10n ** 15n

/** TicketBroker's `redeemRuns` record: seq (16) ‖ r (32) ‖ vs (32, EIP-2098) ‖ rand (32). */
function runRecord(seq: bigint, sig: Uint8Array, rand: bigint): Uint8Array {
  const out = new Uint8Array(112)
  const w = new Uint8Array(32)
  writeWord(w, 0, seq)
  out.set(w.subarray(16), 0)
  out.set(sig.subarray(0, 64), 16)
  if (sig[64] === 28) out[48] |= 0x80
  writeWord(out, 80, rand)
  return out
}

function cost(): PhaseCost { return { gas: 0, bytes: 0, txs: 0 } }

/** Sends one transaction and books its gas and calldata bytes on `phase`. */
async function booked(chain: Chain, phase: PhaseCost, key: Hex, call: Parameters<typeof write>[2]): Promise<TransactionReceipt> {
  const r = await write(chain, chain.wallet(key), call)
  const tx = await chain.public.getTransaction({ hash: r.transactionHash })
  phase.gas += Number(r.gasUsed)
  phase.bytes += (tx.input.length - 2) / 2
  phase.txs++
  return r
}

function total(p: SchemeLifecycle['phases']) {
  return { gas: p.open.gas + p.redeem.gas + p.close.gas, bytes: p.open.bytes + p.redeem.bytes + p.close.bytes, txs: p.open.txs + p.redeem.txs + p.close.txs }
}

export async function measureLifecycle(o: LifecycleOptions): Promise<LifecycleResult> {
  const { K, S, ticketsPerStream: T, winDenominator: D } = o
  const B = o.bundleSize ?? 64
  const unlockPeriod = o.unlockPeriodBlocks ?? 20
  const log = o.log ?? (() => {})
  const N = S * T
  if (N % D !== 0 || N / D < 1 || 2 * (N / D) > N) throw new RangeError(`S·T = ${N} must be a multiple of the win denominator ${D}`)
  const chain = await createChain({ kind: 'embedded', accounts: 1 + 2 * (K + S), seed: o.seed ?? `microcash-lifecycle-${K}x${S}` })
  try {
    const [deployer, ...rest] = chain.devKeys as Hex[]
    const d = await deploySouk(chain, deployer, { unlockPeriodBlocks: unlockPeriod })
    const lottery = await deployConcurrentLottery(chain, deployer, d.token)
    const balanceOf = (a: Address) => chain.public.readContract({ address: d.token, abi: abis.SoukTokenAbi, functionName: 'balanceOf', args: [a] })
    const keys = { base: { payers: rest.slice(0, K), servers: rest.slice(K, K + S) }, micro: { payers: rest.slice(K + S, 2 * K + S), servers: rest.slice(2 * K + S, 2 * (K + S)) } }
    // The packed run format when this build of the broker has it (its ABI moves: `redeemRuns(runs)` or
    // `redeemRuns(runs, payNow)`, paid now so the server holds the money at the end, as with MicroCash).
    const runsAbi = (abis.TicketBrokerAbi as unknown as readonly { type: string; name?: string; inputs?: { type: string }[] }[]).find((x) => x.type === 'function' && x.name === 'redeemRuns')
    const hasRuns = runsAbi ? { payNow: runsAbi.inputs?.[1]?.type === 'bool' } : undefined
    log(`lifecycle K=${K} S=${S} T=${T} p=1/${D}: baseline (${hasRuns ? 'redeemRuns' : 'batchRedeemWinningTickets'})…`)
    const baseline = await baselineLifecycle(chain, d.token, d.contracts.lottery.ticketBroker, keys.base, { T, D, unlockPeriod, hasRuns, balanceOf })
    log(`lifecycle K=${K} S=${S}: microcash…`)
    const microcash = await microcashLifecycle(chain, d.token, lottery, keys.micro, { T, D, B, balanceOf })
    return {
      K, S, ticketsPerStream: T, winProbability: 1 / D, bundleSize: B, baselineRedeem: hasRuns ? 'redeemRuns' : 'batchRedeemWinningTickets',
      microcash, baseline,
      gasRatio: baseline.gas / microcash.gas,
      bytesRatio: baseline.bytes / microcash.bytes,
    }
  } finally {
    await chain.close()
  }
}

type BalanceOf = (a: Address) => Promise<bigint>

async function baselineLifecycle(chain: Chain, token: Address, broker: Address, keys: { payers: Hex[]; servers: Hex[] }, o: { T: number; D: number; unlockPeriod: number; hasRuns: { payNow: boolean } | undefined; balanceOf: BalanceOf }): Promise<SchemeLifecycle> {
  const { T, D } = o
  const payers = keys.payers.map((k) => privateKeyToAddress(k))
  const servers = keys.servers.map((k) => privateKeyToAddress(k))
  const winProb = MAX_WIN_PROB / BigInt(D)
  // A reserve covers its stream's winners with margin: μ + 4σ + 2 face values (a shortfall would queue claims).
  const mu = T / D
  const reserve = FACE * BigInt(Math.ceil(mu + 4 * Math.sqrt(mu) + 2))
  for (const p of payers) await faucet(chain, chain.devKeys[0] as Hex, token, p, reserve * BigInt(servers.length))
  const start = new Map<Address, bigint>()
  for (const a of [...payers, ...servers, broker]) start.set(a, await o.balanceOf(a))
  const phases = { open: cost(), redeem: cost(), close: cost() }
  const B = { address: broker, abi: abis.TicketBrokerAbi } as const
  // Open and fund: one reserve per stream.
  for (const k of keys.payers) {
    await booked(chain, phases.open, k, { address: token, abi: abis.SoukTokenAbi, functionName: 'approve', args: [broker, reserve * BigInt(servers.length)] })
    for (const s of servers) await booked(chain, phases.open, k, { ...B, functionName: 'fundReserve', args: [s, reserve] })
  }
  // Issue and verify, the streams interleaved one ticket at a time (concurrent payments).
  const domain = ticketDomain(chain.chainId, broker)
  const expirationBlock = (await chain.blockNumber()) + 100_000n
  const nextRand = () => BigInt(bytesToHex(pooledSystemRng(32)))
  const streams = payers.flatMap((p, pi) => servers.map((s, si) => { const rand = nextRand(); return { pi, si, sender: p, recipient: s, seq: 0n, rand, randHash: randHash(rand), winners: [] as { seq: bigint; sig: Uint8Array; rand: bigint }[] } }))
  const payerKeys = keys.payers.map((k) => hexToBytes(k))
  const t0 = performance.now()
  for (let n = 0; n < T; n++) {
    for (const st of streams) {
      const t: Ticket = { recipient: st.recipient, sender: st.sender, faceValue: FACE, winProb, senderNonce: st.seq, recipientRandHash: st.randHash, expirationBlock }
      const sig = signDigest(ticketDigest(domain, t), payerKeys[st.pi])
      // The server: digest, signer, draw.
      const r = recoverDigest(ticketDigest(domain, t), sig)
      if (!r.ok || r.address !== st.sender) throw new Error('baseline: a bad ticket')
      if (ticketDraw(sig, st.rand) < winProb) { st.winners.push({ seq: st.seq, sig, rand: st.rand }); st.rand = nextRand(); st.randHash = randHash(st.rand) }
      st.seq++
    }
  }
  const ticketsPerSecond = (T * streams.length * 1000) / (performance.now() - t0)
  // Redeem: per server, one transaction with every payer's winners.
  let redeemed = 0
  let paid = 0n
  for (const [si, k] of keys.servers.entries()) {
    const mine = streams.filter((st) => st.si === si && st.winners.length > 0)
    if (mine.length === 0) continue
    const r = o.hasRuns
      ? await booked(chain, phases.redeem, k, { ...B, functionName: 'redeemRuns', args: [mine.map((st) => ({ sender: st.sender, faceValue: FACE, winProb, expirationBlock, lane: 0n, tickets: bytesToHex(concat(st.winners.map((w) => runRecord(w.seq, w.sig, w.rand)))) })), ...(o.hasRuns.payNow ? [true] : [])] } as unknown as Parameters<typeof write>[2])
      : await booked(chain, phases.redeem, k, { ...B, functionName: 'batchRedeemWinningTickets', args: [mine.flatMap((st) => st.winners.map((w) => ({ ticket: { recipient: st.recipient, sender: st.sender, faceValue: FACE, winProb, senderNonce: w.seq, recipientRandHash: randHash(w.rand), expirationBlock }, r: bytesToHex(w.sig.subarray(0, 32)), s: bytesToHex(w.sig.subarray(32, 64)), v: w.sig[64], recipientRand: w.rand })))] })
    for (const l of r.logs) {
      let ev: { eventName: string; args: Record<string, unknown> }
      try { ev = decodeEventLog({ abi: abis.TicketBrokerAbi, data: l.data, topics: l.topics }) as never } catch { continue }
      if (ev.eventName === 'ClaimQueued') throw new Error('baseline: a reserve fell short (a claim was queued)')
      if (ev.eventName === 'TicketsRedeemed') {
        const n = ev.args.seqs !== undefined ? hexToBytes(ev.args.seqs as Hex).length / 16 : Number(ev.args.count)
        redeemed += n
        paid += (ev.args.fromDeposit as bigint) + (ev.args.fromReserve as bigint)
      }
      if (ev.eventName === 'WinningTicketRedeemed') { redeemed++; paid += (ev.args.fromDeposit as bigint) + (ev.args.fromReserve as bigint) }
    }
  }
  // Close: unlock, wait out the unlock period, withdraw every reserve.
  for (const k of keys.payers) await booked(chain, phases.close, k, { ...B, functionName: 'unlock', args: [] })
  await chain.dev!.mine(o.unlockPeriod)
  for (const k of keys.payers) await booked(chain, phases.close, k, { ...B, functionName: 'withdraw', args: [servers] })
  const winners = streams.reduce((a, st) => a + st.winners.length, 0)
  return finish(phases, { tickets: T * streams.length, winners, redeemed, paid, locked: reserve * BigInt(streams.length), ticketsPerSecond }, await moneyCheck(start, payers, servers, broker, o.balanceOf))
}

async function microcashLifecycle(chain: Chain, token: Address, lottery: Address, keys: { payers: Hex[]; servers: Hex[] }, o: { T: number; D: number; B: number; balanceOf: BalanceOf }): Promise<SchemeLifecycle> {
  const { T, D, B } = o
  const payers = keys.payers.map((k) => privateKeyToAddress(k))
  const servers = keys.servers.map((k) => privateKeyToAddress(k))
  const N = servers.length * T
  const W = N / D
  const L = 256 // round length: opening, issue and the draw fit in one round
  const params: EscrowParams = { ticketValue: FACE, ticketsPerRound: N, winnersPerRound: W, roundLengthBlocks: L, drawDelayBlocks: 2, rounds: 1, redeemWindowBlocks: 32 + servers.length }
  const balance = FACE * BigInt(W)
  const penalty = FACE * BigInt(W)
  for (const p of payers) await faucet(chain, chain.devKeys[0] as Hex, token, p, balance + penalty)
  const start = new Map<Address, bigint>()
  for (const a of [...payers, ...servers, lottery]) start.set(a, await o.balanceOf(a))
  if (2 * payers.length + 4 > L) throw new RangeError('too many payers to open in one round')
  // Start the openings at a round boundary, so every escrow starts in the round its tickets are issued in.
  const b0 = Number(await chain.blockNumber())
  await chain.dev!.mine(L - (b0 % L))
  const phases = { open: cost(), redeem: cost(), close: cost() }
  const ids: bigint[] = []
  const L_ = { address: lottery, abi: ConcurrentLotteryAbi } as const
  for (const k of keys.payers) {
    await booked(chain, phases.open, k, { address: token, abi: abis.SoukTokenAbi, functionName: 'approve', args: [lottery, balance + penalty] })
    const r = await booked(chain, phases.open, k, { ...L_, functionName: 'createEscrow', args: [toParams(params), balance, penalty] })
    for (const l of r.logs) {
      try { const ev = decodeEventLog({ abi: ConcurrentLotteryAbi, data: l.data, topics: l.topics }); if (ev.eventName === 'EscrowCreated') ids.push(ev.args.escrowId) } catch { /* the token's */ }
    }
  }
  const round = roundAt(await chain.blockNumber(), L)
  // Issue and verify: bundles of B for one server, the streams interleaved one bundle at a time; each server checks
  // every ticket as it arrives (leaf, path up to a node it has proven, one recovery per bundle).
  const issuers = keys.payers.map((k, i) => createIssuer({ chainId: chain.chainId, lottery, escrowId: ids[i], privateKey: k, allocator: createSequenceAllocator(openSqliteSequenceStore(':memory:'), { ticketsPerRound: N, reserveSize: 4096 }), rng: pooledSystemRng }))
  const domain = microcashDomain(chain.chainId, lottery)
  const held: SignedTicket[][] = servers.map(() => [])
  let t0 = performance.now()
  for (let n = 0; n < T; n += B) {
    const count = Math.min(B, T - n)
    for (const [pi, iss] of issuers.entries()) {
      for (const [si, s] of servers.entries()) {
        const bundle = iss.issueBundle(round, [{ server: s, count }])
        const proven = new Set<string>()
        for (const t of bundle) {
          let cur = ticketHash(t)
          let known = false
          const path = [bytesToHex(cur)]
          for (let i = 0; i < t.proof.length && !known; i++) { cur = hashPair(cur, hexToBytes(t.proof[i])); const h = bytesToHex(cur); known = proven.has(h); path.push(h) }
          if (!known) {
            const r = recoverDigest(batchDigest(domain, ids[pi], cur), hexToBytes(t.sig))
            if (!r.ok || r.address !== payers[pi]) throw new Error('microcash: a bad bundle')
          }
          for (const h of path) proven.add(h)
          held[si].push(t)
        }
      }
    }
  }
  let elapsed = performance.now() - t0
  // The draw, then each server ranks the tickets it holds.
  const db = drawBlockOf(round, L, params.drawDelayBlocks)
  await chain.dev!.mine(db + 1 - Number(await chain.blockNumber()))
  const seed = (await chain.public.getBlock({ blockNumber: BigInt(db) })).hash!
  t0 = performance.now()
  const wins = held.map((ts) => ts.filter((t) => winnerRank(seed, t.escrowId, t.round, t.seq, N) < W))
  elapsed += performance.now() - t0
  const ticketsPerSecond = (T * servers.length * payers.length * 1000) / elapsed
  // Redeem: per server, one redeemPacked with the winners of every escrow.
  let redeemed = 0
  let paid = 0n
  const perEscrow = new Map<bigint, number>()
  for (const [si, k] of keys.servers.entries()) {
    if (wins[si].length === 0) continue
    const r = await booked(chain, phases.redeem, k, { ...L_, functionName: 'redeemPacked', args: [servers[si], packRedemption(servers[si], wins[si])] })
    for (const l of r.logs) {
      try {
        const ev = decodeEventLog({ abi: ConcurrentLotteryAbi, data: l.data, topics: l.topics })
        if (ev.eventName === 'WinnersRedeemed') { redeemed += Number(ev.args.count); paid += ev.args.amount; perEscrow.set(ev.args.escrowId, (perEscrow.get(ev.args.escrowId) ?? 0) + Number(ev.args.count)) }
      } catch { /* the token's */ }
    }
  }
  // Every number of the round was issued, so each escrow's draw has exactly W winners, all held and redeemed.
  for (const id of ids) if ((perEscrow.get(id) ?? 0) !== W) throw new Error(`microcash: escrow ${id} paid ${perEscrow.get(id) ?? 0} winners, not W = ${W}`)
  // Close: withdraw after the expiry declared at opening.
  const e = await chain.public.readContract({ ...L_, functionName: 'getEscrow', args: [ids[ids.length - 1]] })
  await chain.dev!.mine(Number(e.expiryBlock) + 1 - Number(await chain.blockNumber()))
  for (const [i, k] of keys.payers.entries()) await booked(chain, phases.close, k, { ...L_, functionName: 'withdraw', args: [ids[i]] })
  const winners = wins.reduce((a, w) => a + w.length, 0)
  return finish(phases, { tickets: T * servers.length * payers.length, winners, redeemed, paid, locked: (balance + penalty) * BigInt(payers.length), ticketsPerSecond }, await moneyCheck(start, payers, servers, lottery, o.balanceOf))
}

async function moneyCheck(start: Map<Address, bigint>, payers: Address[], servers: Address[], contract: Address, balanceOf: BalanceOf) {
  let lost = 0n
  let gained = 0n
  for (const p of payers) lost += start.get(p)! - (await balanceOf(p))
  for (const s of servers) gained += (await balanceOf(s)) - start.get(s)!
  return { leftInContract: (await balanceOf(contract)) - start.get(contract)!, imbalance: lost - gained }
}

function finish(phases: SchemeLifecycle['phases'], x: Omit<SchemeLifecycle, 'gas' | 'bytes' | 'txs' | 'phases' | 'leftInContract' | 'imbalance'>, m: { leftInContract: bigint; imbalance: bigint }): SchemeLifecycle {
  return { ...total(phases), phases, ...x, ...m }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}
