/**
 * Microcash benchmark (issue 3). Every figure is measured in this run, on this machine.
 *
 * Throughput (one process, one core for both sides; best of alternating runs, the machine is shared):
 * - microcashTicketsPerSecond: issue + verify, batch-signed: bundles of 64 tickets, one signature per bundle
 *   (issue: salt, leaf hash, tree, sign; verify: leaf hash, path hashes not yet proven, one recover per bundle).
 * - sequentialLotteryTicketsPerSecond: the lottery scheme's tickets (lottery/ticket.ts: EIP-712 digest and sign),
 *   one signature per ticket, recovered with the same library. ratio = microcash / lottery (target >= 4; the
 *   MicroCash paper reports 1.7-4.2x).
 * - microcashSchemeTicketsPerSecond / lotterySchemeTicketsPerSecond / schemeRatio: the same through the whole
 *   PaymentScheme path, one ticket per payment: microcash = one sponsor paying 100 servers in parallel
 *   (`MicrocashPayer` sessions, bundles of 64) into each server's `MicrocashPayee.receive` (schema, escrow cache,
 *   schedule, path, signature once per bundle, SQLite write before ack); lottery = `LotteryPayer` session into
 *   `LotteryPayee.receive`. Time = pay + receive; stores in memory for both.
 * Chain cost (both schemes at the same face value and win probability p = 1/8):
 * - gasPerRedeemedTicketMicrocash: a batch of 100 winners of one server (one round, batch-signed), one transfer, the
 *   payee recorded per server (the bitmap a duplicate proof reads);
 *   gasSingleRedeemMicrocash: one winner alone. gasPerRedeemedTicketLottery: TicketBroker batch of 100.
 * - onChainBytesPer100kTicketsMicrocash / Lottery: calldata of the redemption transactions needed for the winners
 *   of 10^5 tickets (p·10^5 winners, batches of 100), measured from the real transaction inputs.
 *
 * Lifecycle against the real baseline (issue 16; bench/microcash-lifecycle.ts, where every choice is described):
 * the whole escrow lifecycle — open, fund, issue, redeem, close — for K payers × S servers, MicroCash (one
 * ConcurrentLottery escrow per payer, redemption by `redeemPacked`: one transaction per server for all escrows)
 * against one TicketBroker reserve per payer-server stream (`fundReserve` per stream, `redeemRuns` per server,
 * `unlock` + `withdraw` per payer), real signatures and draws, the same face value and win probability p = 1/100.
 * - lifecycleGasRatio = lifecycleGasBaseline / lifecycleGasMicrocash and lifecycleBytesRatio =
 *   lifecycleBytesBaseline / lifecycleBytesMicrocash: > 1 means MicroCash spends less. Gas is summed from the
 *   receipts of every transaction of the lifecycle, bytes are their calldata.
 * - lifecycleTicketsPerSecond*: issue + verify + win check off chain (one core, both sides).
 * - Three cases: K=20, S=10, 100 tickets per stream (about one winner per stream; no suffix), K=S=1 with 5,000
 *   tickets (suffix K1S1: where the baseline should win), and K=20, S=10 with 1,000 tickets per stream (suffix
 *   LongStreams: about ten winners per stream). MicroCash issues every number of its round, so it has exactly p·N
 *   winners per escrow; the baseline's count is binomial (both are in the file).
 *
 * Run: `node --import tsx bench/microcash.ts` (or `npm run bench`). Writes bench/results/microcash.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { deploySouk, type SoukDeployment } from '../src/payments/deploy.js'
import { signed } from './payments.js'
import { pathToFileURL } from 'node:url'
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { createChain, faucet, write, abis, type Chain } from '../src/chain/index.js'
import { openDatabase } from '../src/core/db.js'
import { createPayee, createPayer, fundPayer, type Payment } from '../src/payments/index.js'
import { signTicket, ticketDomain, ticketDigest as lotteryDigest, randHash, type Ticket } from '../src/payments/lottery/ticket.js'
import {
  createMicrocashPayee, createMicrocashPayer, createEscrow, deployConcurrentLottery, createIssuer, createSequenceAllocator, redeemWinners,
  microcashDomain, ticketHash, batchDigest, hashPair, winnerRank, roundAt, drawBlockOf,
  type EscrowParams,
} from '../src/payments/microcash/index.js'
import { bytesToHex, hexToBytes, recoverDigest, signDigest, keccak256, keccakBackend } from '../src/crypto/index.js'
import { systemClock } from '../src/core/clock.js'
import { silentLogger } from '../src/core/logger.js'
import { pooledSystemRng } from '../src/crypto/rng.js'
import { openSqliteSequenceStore, openSqliteMicrocashServerStore } from '../src/payments/microcash/store.js'
import { measureLifecycle, type LifecycleResult } from './microcash-lifecycle.js'

/** The components a node passes (system clock, pooled CSPRNG), so the rates are the node's. */
const components = () => ({ clock: systemClock(), rng: pooledSystemRng, logger: silentLogger() })

const P_DEN = 8 // win probability 1/8 for the chain-cost comparison
const FACE = 10n ** 15n

export async function microcashThroughput(chain: Chain, d: SoukDeployment, lottery: Address, sponsorKey: Hex, servers: Hex[], perServer: number) {
  const params: EscrowParams = { ticketValue: FACE, ticketsPerRound: 1 << 24, winnersPerRound: 1 << 21, roundLengthBlocks: 1000, drawDelayBlocks: 3, rounds: 1, redeemWindowBlocks: 100 }
  const balance = FACE * BigInt(params.winnersPerRound)
  await faucet(chain, chain.devKeys[0], d.token, privateKeyToAddress(sponsorKey), balance + FACE)
  const escrowId = await createEscrow(chain, sponsorKey, { lottery, token: d.token, params, balance, penalty: FACE })
  const payer = createMicrocashPayer({ chain, lottery, privateKey: sponsorKey, escrowId, store: openSqliteSequenceStore(openDatabase(':memory:')), bundleSize: 64, blockCacheMs: 250, ...components() })
  const ev = FACE / BigInt(P_DEN)
  const payees = servers.map((k) => createMicrocashPayee({ chain, lottery, privateKey: k, store: openSqliteMicrocashServerStore(openDatabase(':memory:')), blockCacheMs: 250, escrowCacheMs: 5000, ...components() }))
  const sessions = await Promise.all(payees.map(async (p) => payer.open(await p.terms(payer.address, ev))))
  // Warm-up (JIT, escrow caches), not timed.
  for (let i = 0; i < payees.length; i++) await payees[i].receive(await sessions[i].pay(ev))
  let n = 0
  const t0 = performance.now()
  for (let k = 0; k < perServer; k++) {
    await Promise.all(payees.map(async (p, i) => { await p.receive(await sessions[i].pay(ev)); n++ }))
  }
  return (n * 1000) / (performance.now() - t0)
}

async function lotteryThroughput(chain: Chain, d: SoukDeployment, payerKey: Hex, payeeKey: Hex, n: number) {
  const payer = privateKeyToAddress(payerKey).toLowerCase() as Address
  await fundPayer('lottery', { chain, deployment: d, key: payerKey }, { deposit: 10n ** 20n, reserves: [{ payee: privateKeyToAddress(payeeKey), amount: 10n ** 20n }] })
  const pe = await createPayee('lottery', { chain, deployment: d, key: payeeKey, options: { maxTicketsPerRand: 1_000_000, paramsValidityBlocks: 1_000_000 }, ...components() })
  const price = 10n ** 13n
  const session = await (await createPayer('lottery', { chain, deployment: d, key: payerKey, ...components() })).open(await pe.terms(payer, price))
  for (let i = 0; i < 50; i++) { const r = await pe.receive(await session.pay(price)); if (r.terms) session.update(r.terms) }
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const p: Payment = await session.pay(price)
    const r = await pe.receive(p)
    if (r.terms) session.update(r.terms)
  }
  const rate = (n * 1000) / (performance.now() - t0)
  await pe.close()
  return rate
}

/** The crypto alone: microcash (bundles of 64, one signature, cached path checks) vs lottery (sign + recover each).
 * The two are measured alternately, 5 times each, and the best of each is kept (the machine is shared). */
function coreRates(n: number) {
  let micro = 0
  let seq = 0
  for (let i = 0; i < 5; i++) {
    const r = coreRatesOnce(n)
    micro = Math.max(micro, r.microcashCoreTicketsPerSecond)
    seq = Math.max(seq, r.lotteryCoreTicketsPerSecond)
  }
  return { microcashCoreTicketsPerSecond: micro, lotteryCoreTicketsPerSecond: seq }
}

function coreRatesOnce(n: number) {
  const key = keccak256(new TextEncoder().encode('bench-sponsor'))
  const keyHex = bytesToHex(key)
  const lot = '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address
  const server = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as Address
  const domain = microcashDomain(31337, lot)
  const issuer = createIssuer({ chainId: 31337, lottery: lot, escrowId: 1n, privateKey: keyHex, allocator: createSequenceAllocator(openSqliteSequenceStore(':memory:'), { ticketsPerRound: 1 << 30, reserveSize: 4096 }), ...components() })
  let t0 = performance.now()
  let done = 0
  while (done < n) {
    const bundle = issuer.issueBundle(1, [{ server, count: 64 }])
    // Server side: leaf, path until a proven node, recover once per root.
    let proven: Set<string> | undefined
    for (const t of bundle) {
      let cur = ticketHash(t)
      const path = [cur]
      let known = proven?.has(bytesToHex(cur)) ?? false
      for (let i = 0; i < t.proof.length && !known; i++) { cur = hashPair(cur, hexToBytes(t.proof[i])); path.push(cur); known = proven?.has(bytesToHex(cur)) ?? false }
      if (!proven) {
        const r = recoverDigest(batchDigest(domain, 1n, cur), hexToBytes(t.sig))
        if (!r.ok) throw new Error('bad bundle')
        proven = new Set()
      }
      for (const p of path) proven.add(bytesToHex(p))
      for (let i = 0; i < path.length - 1; i++) proven.add(t.proof[i])
    }
    done += bundle.length
  }
  const micro = (done * 1000) / (performance.now() - t0)
  const ldomain = ticketDomain(31337, lot)
  const sender = privateKeyToAddress(keyHex)
  const rh = randHash(12345n)
  t0 = performance.now()
  const m = Math.ceil(n / 4)
  for (let i = 0; i < m; i++) {
    const t: Ticket = { recipient: server, sender, faceValue: FACE, winProb: 1n << 253n, senderNonce: BigInt(i), recipientRandHash: rh, expirationBlock: 1000n }
    const sig = signTicket(ldomain, t, keyHex)
    const r = recoverDigest(lotteryDigest(ldomain, t), sig)
    if (!r.ok) throw new Error('bad ticket')
  }
  const seq = (m * 1000) / (performance.now() - t0)
  void signDigest
  return { microcashCoreTicketsPerSecond: micro, lotteryCoreTicketsPerSecond: seq }
}

export async function microcashGas(chain: Chain, d: SoukDeployment, lottery: Address, sponsorKey: Hex, serverKey: Hex) {
  // N = 200, W = 25: p = 1/8. All 200 numbers of several rounds go to one server; 100 winners = 4 rounds.
  const params: EscrowParams = { ticketValue: FACE, ticketsPerRound: 200, winnersPerRound: 25, roundLengthBlocks: 20, drawDelayBlocks: 2, rounds: 10, redeemWindowBlocks: 500 }
  const balance = FACE * 25n * 10n
  await faucet(chain, chain.devKeys[0], d.token, privateKeyToAddress(sponsorKey), balance + FACE)
  const escrowId = await createEscrow(chain, sponsorKey, { lottery, token: d.token, params, balance, penalty: FACE })
  const server = privateKeyToAddress(serverKey)
  const issuer = createIssuer({ chainId: chain.chainId, lottery, escrowId, privateKey: sponsorKey, allocator: createSequenceAllocator(openSqliteSequenceStore(':memory:'), { ticketsPerRound: 200 }), ...components() })
  const all = []
  for (let r = 0; r < 5; r++) {
    const round = roundAt(await chain.blockNumber(), 20)
    for (let b = 0; b < 200; b += 64) all.push(...issuer.issueBundle(round, [{ server, count: Math.min(64, 200 - b) }]))
    const next = (round + 1) * 20
    await chain.dev!.mine(next - Number(await chain.blockNumber()))
  }
  await chain.dev!.mine(5)
  const winners = []
  for (const t of all) {
    const seed = (await chain.public.getBlock({ blockNumber: BigInt(drawBlockOf(t.round, 20, 2)) })).hash!
    if (winnerRank(seed, escrowId, t.round, t.seq, 200) < 25) winners.push(t)
  }
  // Warm-up: the server's token balance slot and the bitmap word of round 1.
  const first = await redeemWinners(chain, serverKey, lottery, escrowId, server, winners.slice(0, 1))
  const single = await redeemWinners(chain, serverKey, lottery, escrowId, server, winners.slice(1, 2))
  const batch = await redeemWinners(chain, serverKey, lottery, escrowId, server, winners.slice(2, 102))
  const tx = await chain.public.getTransaction({ hash: batch.transactionHash })
  void first
  return { gasSingleRedeemMicrocash: Number(single.gasUsed), gasPerRedeemedTicketMicrocash: Number(batch.gasUsed) / 100, calldataBytesPerTicketMicrocash: (tx.input.length - 2) / 2 / 100 }
}

async function lotteryGas(chain: Chain, d: SoukDeployment, payerKey: Hex, payeeKey: Hex) {
  const payer = privateKeyToAddress(payerKey)
  const payee = privateKeyToAddress(payeeKey)
  const domain = ticketDomain(chain.chainId, d.contracts.lottery.ticketBroker)
  const rand = 987654321n
  const exp = (await chain.blockNumber()) + 100_000n
  let nonce = 0n
  const mk = () => signed(domain, { recipient: payee, sender: payer, faceValue: FACE, winProb: (1n << 256n) - 1n, senderNonce: nonce++, recipientRandHash: randHash(rand), expirationBlock: exp }, payerKey, rand)
  const w = chain.wallet(payeeKey)
  await write(chain, w, { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'redeemWinningTicket', args: [mk()] })
  const b100 = await write(chain, w, { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'batchRedeemWinningTickets', args: [Array.from({ length: 100 }, mk)] })
  const tx = await chain.public.getTransaction({ hash: b100.transactionHash })
  return { gasPerRedeemedTicketLottery: Number(b100.gasUsed) / 100, calldataBytesPerTicketLottery: (tx.input.length - 2) / 2 / 100 }
}

/** The lifecycle cases of the file: [suffix, K, S, tickets per stream]; p = 1/LIFECYCLE_WIN_DEN for all. */
export const LIFECYCLE_CASES: readonly [string, number, number, number][] = [['', 20, 10, 100], ['K1S1', 1, 1, 5000], ['LongStreams', 20, 10, 1000]]
export const LIFECYCLE_WIN_DEN = 100

/** The figures of one lifecycle case, named `lifecycle<Figure><suffix>`. */
export function lifecycleFields(r: LifecycleResult, suffix: string): Record<string, number> {
  const out: Record<string, number> = {
    GasRatio: Number(r.gasRatio.toFixed(3)),
    BytesRatio: Number(r.bytesRatio.toFixed(3)),
    GasMicrocash: r.microcash.gas, GasBaseline: r.baseline.gas,
    BytesMicrocash: r.microcash.bytes, BytesBaseline: r.baseline.bytes,
    TxsMicrocash: r.microcash.txs, TxsBaseline: r.baseline.txs,
    K: r.K, S: r.S, WinProbability: r.winProbability, TicketsPerStream: r.ticketsPerStream,
    WinnersMicrocash: r.microcash.winners, WinnersBaseline: r.baseline.winners,
    TicketsPerSecondMicrocash: Math.round(r.microcash.ticketsPerSecond), TicketsPerSecondBaseline: Math.round(r.baseline.ticketsPerSecond),
    OpenGasMicrocash: r.microcash.phases.open.gas, OpenGasBaseline: r.baseline.phases.open.gas,
    RedeemGasMicrocash: r.microcash.phases.redeem.gas, RedeemGasBaseline: r.baseline.phases.redeem.gas,
    CloseGasMicrocash: r.microcash.phases.close.gas, CloseGasBaseline: r.baseline.phases.close.gas,
    RedeemBytesMicrocash: r.microcash.phases.redeem.bytes, RedeemBytesBaseline: r.baseline.phases.redeem.bytes,
    LockedFaceValuesMicrocash: Number(r.microcash.locked / FACE), LockedFaceValuesBaseline: Number(r.baseline.locked / FACE),
    BaselineRedeemRuns: r.baselineRedeem === 'redeemRuns' ? 1 : 0,
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [`lifecycle${k}${suffix}`, v]))
}

export async function benchMicrocash(opts: { perServer?: number; lotteryTickets?: number; coreTickets?: number; log?: (s: string) => void } = {}): Promise<Record<string, number>> {
  const log = opts.log ?? (() => {})
  const chain = await createChain({ kind: 'embedded', accounts: 110, seed: 'bench-microcash' })
  try {
    const d = await deploySouk(chain, chain.devKeys[0])
    const lottery = await deployConcurrentLottery(chain, chain.devKeys[0], d.token)
    d.contracts.microcash.concurrentLottery = lottery
    const keys = chain.devKeys as Hex[]
    // Scheme path, alternately twice each (best kept: the machine is shared).
    let schemeMicro = 0
    let schemeLottery = 0
    for (let i = 0; i < 2; i++) {
      log('microcash: 1 sponsor → 100 servers…')
      schemeMicro = Math.max(schemeMicro, await microcashThroughput(chain, d, lottery, keys[1], keys.slice(10, 110), opts.perServer ?? 100))
      log('lottery: sequential tickets…')
      schemeLottery = Math.max(schemeLottery, await lotteryThroughput(chain, d, keys[2 + 2 * i], keys[3 + 2 * i], opts.lotteryTickets ?? 3000))
    }
    log('core crypto rates…')
    const core = coreRates(opts.coreTickets ?? 6400)
    log('redemption gas…')
    const mg = await microcashGas(chain, d, lottery, keys[6], keys[7])
    await fundPayer('lottery', { chain, deployment: d, key: keys[8] }, { deposit: 10n ** 20n })
    const lg = await lotteryGas(chain, d, keys[8], keys[9])
    const lifecycle: Record<string, number> = {}
    for (const [suffix, K, S, T] of LIFECYCLE_CASES) Object.assign(lifecycle, lifecycleFields(await measureLifecycle({ K, S, ticketsPerStream: T, winDenominator: LIFECYCLE_WIN_DEN, log }), suffix))
    const winnersPer100k = 100_000 / P_DEN
    const txOverheadBytes = 110 // envelope of a signed type-2 transaction without calldata
    const bytes = (perTicket: number) => winnersPer100k * perTicket + Math.ceil(winnersPer100k / 100) * txOverheadBytes
    return {
      microcashTicketsPerSecond: Math.round(core.microcashCoreTicketsPerSecond),
      sequentialLotteryTicketsPerSecond: Math.round(core.lotteryCoreTicketsPerSecond),
      ratio: Number((core.microcashCoreTicketsPerSecond / core.lotteryCoreTicketsPerSecond).toFixed(2)),
      microcashSchemeTicketsPerSecond: Math.round(schemeMicro),
      lotterySchemeTicketsPerSecond: Math.round(schemeLottery),
      schemeRatio: Number((schemeMicro / schemeLottery).toFixed(2)),
      gasPerRedeemedTicketMicrocash: Math.round(mg.gasPerRedeemedTicketMicrocash),
      gasSingleRedeemMicrocash: mg.gasSingleRedeemMicrocash,
      gasPerRedeemedTicketLottery: Math.round(lg.gasPerRedeemedTicketLottery),
      calldataBytesPerTicketMicrocash: mg.calldataBytesPerTicketMicrocash,
      calldataBytesPerTicketLottery: lg.calldataBytesPerTicketLottery,
      onChainBytesPer100kTicketsMicrocash: Math.round(bytes(mg.calldataBytesPerTicketMicrocash)),
      onChainBytesPer100kTicketsLottery: Math.round(bytes(lg.calldataBytesPerTicketLottery)),
      winProbabilityForChainCosts: 1 / P_DEN,
      keccakNative: keccakBackend === 'noble' ? 0 : 1,
      ...lifecycle,
    }
  } finally {
    await chain.close()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchMicrocash({ log: (s) => process.stderr.write(s + '\n') })
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  writeFileSync(new URL('microcash.json', dir), JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, ...r }, null, 2) + '\n')
  console.log(JSON.stringify(r, null, 2))
}
