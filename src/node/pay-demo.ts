/**
 * The payment-layer demo (`souk pay`): boots the embedded chain, deploys, and has one payer pay one payee for N
 * chunks with each chosen scheme, then settles and checks what the payee received against the chain and against
 * the expected value. Reports progress through a callback; prints nothing itself.
 *
 * @example
 * ```ts
 * import { runPaymentDemo } from './src/node/pay-demo.js'
 * const r = await runPaymentDemo({ chunks: 2000, schemes: ['lottery', 'channel'] })
 * console.log(r.results.map((x) => [x.scheme, x.transactions, x.received]))
 * ```
 */
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { createChain } from '../chain/chain.js'
import { deploySouk } from '../payments/deploy.js'
import { SoukTokenAbi } from '../../artifacts/contracts.js'
import { createPayee, createPayer, fundPayer, type SchemeName } from '../payments/index.js'
import { systemClock } from '../core/clock.js'
import { silentLogger } from '../core/logger.js'
import { pooledSystemRng } from '../crypto/rng.js'

export interface PaymentDemoOptions {
  chunks?: number
  pricePerChunk?: bigint
  schemes?: SchemeName[]
  signal?: AbortSignal
  onProgress?: (p: { scheme: SchemeName; done: number; total: number }) => void
}

export interface PaymentDemoResult {
  scheme: SchemeName
  chunks: number
  /** Payment messages accepted by the payee. */
  payments: number
  /** Lottery: tickets issued / winning / redeemed. Channel: vouchers / 0 / channels closed. */
  issued: number
  winning: number
  redeemed: number
  /** Lottery: winners the chain queued as claims (the payer was short) and winners lost; both 0 when funded right. */
  claims: number
  lost: number
  /** Settlement transactions the payee sent, and their gas. */
  transactions: number
  gasUsed: bigint
  /** Funding transactions of the payer (deposit, reserve, approve, channel open...). */
  setupTransactions: number
  expected: bigint
  received: bigint
  /** Token balance change of the payee on chain (must equal `received`). */
  onChainDelta: bigint
  seconds: number
}

/** The chance, per scheme run, that the lottery payer's funds fall short of its winners (then a winner is a claim). */
export const SHORTFALL_PROBABILITY = 1e-9

/**
 * The most winners among `n` tickets each winning with probability `p` that funding must cover: the smallest k
 * with P(Binomial(n, p) > k) <= `eps`.
 *
 * @example
 * ```ts
 * plausibleWinners(10, 0.5, 1e-3) // 9: P(all 10 win) = 1/1024 <= 1e-3 < P(9 or 10 win) = 11/1024
 * ```
 */
export function plausibleWinners(n: number, p: number, eps = SHORTFALL_PROBABILITY): number {
  if (!(p > 0)) return 0
  if (p >= 1) return n
  // pmf(k+1) = pmf(k) · (n-k)/(k+1) · p/(1-p), from pmf(0) = (1-p)^n; the tail is summed from the top down to
  // keep its small values exact, over the range where terms are not negligible.
  const logPmf0 = n * Math.log1p(-p)
  const pmf: number[] = []
  let log = logPmf0
  for (let k = 0; k <= n; k++) {
    pmf.push(Math.exp(log))
    if (k > n * p && pmf[k]! < eps * 1e-6) break
    log += Math.log(n - k) - Math.log(k + 1) + Math.log(p) - Math.log1p(-p)
  }
  let tail = 0
  for (let k = pmf.length - 1; k >= 0; k--) {
    if (tail + pmf[k]! > eps) return k
    tail += pmf[k]!
  }
  return 0
}

export async function runPaymentDemo(opts: PaymentDemoOptions = {}): Promise<{ chainId: number; results: PaymentDemoResult[] }> {
  const chunks = opts.chunks ?? 10_000
  const price = opts.pricePerChunk ?? 10n ** 13n
  const chain = await createChain({ kind: 'embedded', accounts: 8 })
  const results: PaymentDemoResult[] = []
  try {
    const deployment = await deploySouk(chain, chain.devKeys[0])
    let k = 1
    for (const scheme of opts.schemes ?? (['lottery', 'channel'] as SchemeName[])) {
      const payerKey = chain.devKeys[k++] as Hex
      const payeeKey = chain.devKeys[k++] as Hex
      const payer = privateKeyToAddress(payerKey).toLowerCase() as Address
      const payee = privateKeyToAddress(payeeKey).toLowerCase() as Address
      const t0 = performance.now()
      const txBefore = await chain.public.getTransactionCount({ address: payer })
      const total = price * BigInt(chunks)
      // microcash: one round holds every ticket of the run (no blocks pass while paying off chain); 1 in 512
      // numbers wins, so a winner is worth 512 chunks and the expected value of a ticket is one chunk's price.
      const ticketsPerRound = 2 ** Math.max(10, Math.ceil(Math.log2(chunks)))
      const escrow = { ticketsPerRound, winnersPerRound: ticketsPerRound / 512, ticketValue: price * 512n, roundLengthBlocks: 20, drawDelayBlocks: 3, rounds: 4, redeemWindowBlocks: 200 }
      const options = scheme === 'microcash' ? { escrow } : undefined
      const deposit = scheme === 'microcash' ? price * BigInt(ticketsPerRound) * 4n : total * 2n
      const ctx = { chain, deployment, key: payerKey, options, clock: systemClock(), rng: pooledSystemRng, logger: silentLogger() }
      // lottery: the reserve first (the payee's face value is capped by it), then a deposit for the winners the run
      // can plausibly draw at that face value: the number of winners is random, its expected value alone is not
      // enough (at 1500 chunks and ~943 chunks per win, 3 × the expected value still fell short 1 run in 40).
      await fundPayer(scheme, ctx, scheme === 'lottery' ? { deposit: 0n, reserves: [{ payee, amount: total }] } : { deposit, reserves: [{ payee, amount: total }] })
      const seller = await createPayee(scheme, { chain, deployment, key: payeeKey, clock: systemClock(), rng: pooledSystemRng, logger: silentLogger() })
      const buyer = await createPayer(scheme, ctx)
      const terms = await seller.terms(payer, price)
      if (scheme === 'lottery') {
        // The payee holds no more winners than the reserve for it guarantees (the deposit is shared with every other
        // recipient): the reserve must cover the winners the run can plausibly draw before it settles at the end.
        const face = (terms.params as { faceValue: bigint }).faceValue
        const cover = BigInt(plausibleWinners(chunks, Number(price) / Number(face))) * face
        await fundPayer(scheme, ctx, { deposit: total, reserves: cover > total ? [{ payee, amount: cover - total }] : [] })
      }
      const session = await buyer.open(terms)
      const balBefore = await chain.public.readContract({ address: deployment.token, abi: SoukTokenAbi, functionName: 'balanceOf', args: [payee] })
      for (let i = 0; i < chunks; i++) {
        opts.signal?.throwIfAborted()
        const r = await seller.receive(await session.pay(price))
        if (r.terms) session.update(r.terms)
        if (i % 100 === 99 || i === chunks - 1) opts.onProgress?.({ scheme, done: i + 1, total: chunks })
      }
      const setupTransactions = (await chain.public.getTransactionCount({ address: payer })) - txBefore
      // A microcash round is drawn from a block hash after the round: move the dev chain past the draw.
      if (scheme === 'microcash') await chain.dev!.mine(escrow.roundLengthBlocks + escrow.drawDelayBlocks + 2)
      const rep = await seller.settle({ force: true, signal: opts.signal })
      const s = seller.stats()
      const balAfter = await chain.public.readContract({ address: deployment.token, abi: SoukTokenAbi, functionName: 'balanceOf', args: [payee] })
      await seller.close()
      results.push({
        scheme, chunks, payments: s.payments, issued: s.payments, winning: s.winning, redeemed: s.settled, claims: rep.claims ?? 0, lost: rep.lostCount ?? 0,
        transactions: s.transactions, gasUsed: s.gasUsed, setupTransactions, expected: total, received: s.received,
        onChainDelta: balAfter - balBefore, seconds: (performance.now() - t0) / 1000,
      })
    }
    return { chainId: chain.chainId, results }
  } finally {
    await chain.close()
  }
}
