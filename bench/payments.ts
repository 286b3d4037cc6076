/**
 * Payments benchmark (issues 2 and 16). Every figure is measured in this run, on this machine:
 * - redeemGasSingle: one winning ticket alone in the run format (`redeemRuns`) kept as the payee's credit (no token
 *   call; steady state: the lane word and the credit word exist). Goal ≤ 55,000. redeemGasSingleTransfer: the same
 *   paid out at once; withdrawCreditGas: the one transaction that later moves a credit out.
 * - redeemGasPerTicketBatch10 / redeemGasPerTicketBatch100: gas per ticket of a batch in the run format (one token
 *   transfer; every ticket with its own rand, as a payee rotating rands after each win holds them). Goal ≤ 8,000.
 *   calldataBytesPerTicketBatch100: its calldata per ticket. The struct format, for comparison:
 *   redeemGasSingleTicketStruct, redeemGasPerTicketBatch100TicketStruct.
 * - ticketsVerifiedPerSecond: full payee validation of one-ticket payments through `LotteryPayee.receive`
 *   (schema, params, nonce, signature, draw), vs bareSignatureVerifiesPerSecond: the same signatures checked alone
 *   with the same library (libsecp256k1 verify with a known key), block by block (500 tickets signed ahead, received,
 *   then verified bare); verifyRatio is the median of the blocks' ratios. Target ≥ 0.8.
 * - ticketsVerifiedPerSecondConcurrentInline / ticketsVerifiedPerSecond1Worker / ticketsVerifiedPerSecond2Workers: the same
 *   validation with 64 payment streams at once (4 payers × 16), signatures checked inline or on 1 or 2 worker threads
 *   (src/node/verify-pool.ts); workers2ToInline their ratio.
 * - onChainTxsPer1MChunks (and onChainTxsPer100kChunks, the same figure per 10^5): transactions the payee sends to
 *   redeem the winners of 10^6 one-chunk payments at default parameters (real tickets, real redemption). Goal ≤ 10.
 *
 * Run: `node --import tsx bench/payments.ts` (or `npm run bench`). Writes bench/results/payments.json.
 */
import { pathToFileURL } from 'node:url'
import { deploySouk, type SoukDeployment } from '../src/payments/deploy.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { encodeFunctionData, type Address, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { createChain, write, abis, type Chain } from '../src/chain/index.js'
import { createPayee, createPayer, fundPayer, type Payment, type PaymentTerms } from '../src/payments/index.js'
import { signTicket, ticketDomain, ticketDigest, randHash, toTicketRuns, MAX_WIN_PROB, type Ticket } from '../src/payments/lottery/ticket.js'
import { recoverPublicKey, verifyWithPublicKey } from '../src/crypto/secp256k1.js'
import { hexToBytes, bytesToHex } from '../src/crypto/bytes.js'
import { systemClock } from '../src/core/clock.js'
import { silentLogger } from '../src/core/logger.js'
import { pooledSystemRng } from '../src/crypto/rng.js'

/** The components a node passes (system clock, pooled CSPRNG), so the rates are the node's. */
const components = () => ({ clock: systemClock(), rng: pooledSystemRng, logger: silentLogger() })

export const DEFAULT_PRICE_PER_CHUNK = 10n ** 13n

/** A TicketBroker `SignedTicket` argument for `t` (shared by the benchmarks that redeem lottery tickets). */
export function signed(domain: Uint8Array, t: Ticket, key: Hex, rand: bigint) {
  const sig = signTicket(domain, t, key)
  return { ticket: t, r: bytesToHex(sig.subarray(0, 32)), s: bytesToHex(sig.subarray(32, 64)), v: sig[64], recipientRand: rand }
}

export async function redeemGas(chain: Chain, d: SoukDeployment, payerKey: Hex, payeeKey: Hex) {
  const payer = privateKeyToAddress(payerKey)
  const payee = privateKeyToAddress(payeeKey)
  const broker = d.contracts.lottery.ticketBroker
  const domain = ticketDomain(chain.chainId, broker)
  const exp = (await chain.blockNumber()) + 100_000n
  const face = 10n ** 12n
  // Every winner rotates the payee's rand (as LotteryPayee does): each ticket carries a rand of its own.
  let nonce = 0n
  let rand = 987654321n
  const next = () => {
    const r = rand++
    const t: Ticket = { recipient: payee, sender: payer, faceValue: face, winProb: MAX_WIN_PROB, senderNonce: nonce++, recipientRandHash: randHash(r), expirationBlock: exp }
    return { t, r, sig: signTicket(domain, t, payerKey) }
  }
  const asStruct = (x: ReturnType<typeof next>) => ({ ticket: x.t, r: bytesToHex(x.sig.subarray(0, 32)), s: bytesToHex(x.sig.subarray(32, 64)), v: x.sig[64], recipientRand: x.r })
  const asRuns = (xs: ReturnType<typeof next>[]) => toTicketRuns(xs.map((x) => ({ sender: payer, faceValue: face, winProb: MAX_WIN_PROB, expirationBlock: exp, senderNonce: x.t.senderNonce, sig: x.sig, rand: x.r })))
  const w = chain.wallet(payeeKey)
  const B = { address: broker, abi: abis.TicketBrokerAbi } as const
  const send = async (functionName: 'redeemWinningTicket' | 'batchRedeemWinningTickets' | 'redeemRuns' | 'withdrawCredit', args: readonly unknown[]) =>
    Number((await write(chain, w, { ...B, functionName, args } as Parameters<typeof write>[2])).gasUsed)
  // Warm-up: the first redemption of a lane creates its nonce word and the payee's token balance.
  await send('redeemWinningTicket', [asStruct(next())])
  const structSingle = await send('redeemWinningTicket', [asStruct(next())])
  const struct100 = await send('batchRedeemWinningTickets', [Array.from({ length: 100 }, () => asStruct(next()))])
  const runSingleTransfer = await send('redeemRuns', [asRuns([next()]), true])
  // Credit mode: the first credit of a recipient creates its word; measured once it exists.
  await send('redeemRuns', [asRuns([next()]), false])
  const runSingle = await send('redeemRuns', [asRuns([next()]), false])
  const run10 = await send('redeemRuns', [asRuns(Array.from({ length: 10 }, next)), true])
  const run100 = await send('redeemRuns', [asRuns(Array.from({ length: 100 }, next)), true])
  const withdrawCredit = await send('withdrawCredit', [])
  const run100Calldata = (encodeFunctionData({ ...B, functionName: 'redeemRuns', args: [asRuns(Array.from({ length: 100 }, next)), true] }).length - 2) / 2
  return {
    redeemGasSingle: runSingle, redeemGasPerTicketBatch10: run10 / 10, redeemGasPerTicketBatch100: run100 / 100,
    calldataBytesPerTicketBatch100: run100Calldata / 100,
    redeemGasSingleTransfer: runSingleTransfer, withdrawCreditGas: withdrawCredit,
    redeemGasSingleTicketStruct: structSingle, redeemGasPerTicketBatch100TicketStruct: struct100 / 100,
  }
}

export async function verifyRates(chain: Chain, d: SoukDeployment, payerKey: Hex, payeeKey: Hex) {
  const payer = privateKeyToAddress(payerKey).toLowerCase() as Address
  const price = DEFAULT_PRICE_PER_CHUNK
  const pe = await createPayee('lottery', { chain, deployment: d, key: payeeKey, options: { maxTicketsPerRand: 1_000_000, paramsValidityBlocks: 1_000_000 }, ...components() })
  const session = await (await createPayer('lottery', { chain, deployment: d, key: payerKey, ...components() })).open(await pe.terms(payer, price))
  const domain = ticketDomain(chain.chainId, d.contracts.lottery.ticketBroker)
  let pub: Uint8Array | undefined
  // Sign ahead a block of payments, time the payee's receive over it back to back (signing excluded), then the same
  // signatures checked bare, at once: each block gives one ratio, from tickets in the same state of the process.
  // A win rotates the rand: the rest of that block is dropped and the next block is signed under the new terms.
  const rounds: { received: number; receiveMs: number; bareMs: number }[] = []
  let received = 0
  while (received < 8_000) {
    const block: Payment[] = []
    for (let i = 0; i < 500; i++) block.push(await session.pay(price))
    let rotated: PaymentTerms | undefined
    const t0 = performance.now()
    let k = 0
    for (; k < block.length && !rotated; k++) rotated = (await pe.receive(block[k]!)).terms
    const receiveMs = performance.now() - t0
    if (rotated) session.update(rotated)
    const items = block.slice(0, k).map((p) => {
      const b = p.body as { faceValue: bigint; winProb: bigint; recipientRandHash: Hex; expirationBlock: bigint; tickets: { nonce: bigint; sig: Hex }[] }
      const digest = ticketDigest(domain, { recipient: p.payee, sender: p.payer, faceValue: b.faceValue, winProb: b.winProb, senderNonce: b.tickets[0]!.nonce, recipientRandHash: b.recipientRandHash, expirationBlock: b.expirationBlock })
      return { digest, sig: hexToBytes(b.tickets[0]!.sig) }
    })
    pub ??= recoverPublicKey(items[0]!.digest, items[0]!.sig)!
    const t1 = performance.now()
    let ok = 0
    for (const it of items) if (verifyWithPublicKey(it.digest, it.sig, pub)) ok++
    const bareMs = performance.now() - t1
    if (ok !== items.length) throw new Error('bare verification failed')
    received += k
    // A block cut short by an early win is too small to time: its tickets count, its ratio does not.
    if (k >= 100) rounds.push({ received: k, receiveMs, bareMs })
  }
  await pe.close()
  const ratios = rounds.map((r) => r.bareMs / r.receiveMs).sort((a, b) => a - b)
  const sum = (f: (r: (typeof rounds)[number]) => number) => rounds.reduce((a, r) => a + f(r), 0)
  return {
    ticketsVerifiedPerSecond: (sum((r) => r.received) * 1000) / sum((r) => r.receiveMs),
    bareSignatureVerifiesPerSecond: (sum((r) => r.received) * 1000) / sum((r) => r.bareMs),
    // The median over the blocks: one block disturbed by the machine moves it little.
    verifyRatio: ratios[ratios.length >> 1]!,
    verifyRatioBlocks: ratios.length,
  }
}

/**
 * Tickets/s through `LotteryPayee.receive` with `sessions` payment streams at once (each its own lane; signing ahead,
 * excluded), checked inline or on a worker pool of `workers` threads. The pool batches what the streams ask for in
 * one turn of the event loop.
 */
export async function verifyRatesConcurrent(chain: Chain, d: SoukDeployment, payerKeys: Hex[], payeeKey: Hex, o: { workers?: number; sessionsPerPayer?: number; tickets?: number } = {}) {
  const { createVerifierPool } = await import('../src/node/verify-pool.js')
  const price = DEFAULT_PRICE_PER_CHUNK
  const verifier = o.workers ? createVerifierPool({ workers: o.workers }) : undefined
  // The workers' start-up (loading the sources) is not what is measured.
  await verifier?.ready()
  const pe = await createPayee('lottery', { chain, deployment: d, key: payeeKey, options: { maxTicketsPerRand: 1_000_000, paramsValidityBlocks: 1_000_000 }, verifier, ...components() })
  const n = o.tickets ?? 12_000
  // MAX_LANES_PER_PAYER (16) sessions per payer at most.
  const k = o.sessionsPerPayer ?? 16
  const sessions = (await Promise.all(payerKeys.map(async (key) => {
    const payer = privateKeyToAddress(key).toLowerCase() as Address
    const side = await createPayer('lottery', { chain, deployment: d, key, ...components() })
    const ss = await Promise.all(Array.from({ length: k }, async () => side.open(await pe.terms(payer, price))))
    // One ticket first: the payer's key is cached (the pool is used from its second ticket on), workers started.
    const r = await pe.receive(await ss[0]!.pay(price))
    if (r.terms) ss[0]!.update(r.terms)
    return ss
  }))).flat()
  let received = 0
  let spent = 0
  while (received < n) {
    const blocks = await Promise.all(sessions.map(async (s) => { const b: Payment[] = []; for (let i = 0; i < 40; i++) b.push(await s.pay(price)); return b }))
    const t0 = performance.now()
    const counts = await Promise.all(blocks.map(async (block, si) => {
      let j = 0
      for (; j < block.length; j++) {
        const r = await pe.receive(block[j]!)
        if (r.terms) { sessions[si]!.update(r.terms); j++; break }
      }
      return j
    }))
    spent += performance.now() - t0
    received += counts.reduce((a, b) => a + b, 0)
  }
  await pe.close()
  if (verifier && process.env.SOUK_BENCH_DEBUG) process.stderr.write(`verifier pool: ${JSON.stringify(verifier.stats())}, ${spent.toFixed(0)} ms\n`)
  await verifier?.close()
  return (received * 1000) / spent
}

export async function txsPerChunks(chain: Chain, d: SoukDeployment, payerKey: Hex, payeeKey: Hex, chunks = 1_000_000, log: (s: string) => void = () => {}) {
  const payer = privateKeyToAddress(payerKey).toLowerCase() as Address
  const price = DEFAULT_PRICE_PER_CHUNK
  const pe = await createPayee('lottery', { chain, deployment: d, key: payeeKey, ...components() })
  const session = await (await createPayer('lottery', { chain, deployment: d, key: payerKey, ...components() })).open(await pe.terms(payer, price))
  let winners = 0
  for (let i = 0; i < chunks; i++) {
    const r = await pe.receive(await session.pay(price))
    if (r.winning) winners++
    if (r.terms) session.update(r.terms)
    if ((i + 1) % 100_000 === 0) log(`  ${i + 1} chunks paid, ${winners} winning tickets held`)
  }
  const rep = await pe.settle({ force: true })
  const face = (session.terms.params as { faceValue: bigint }).faceValue
  await pe.close()
  return {
    onChainTxsPer1MChunks: (rep.transactions * 1_000_000) / chunks, onChainTxsPer100kChunks: (rep.transactions * 100_000) / chunks,
    winnersPer100kChunks: (winners * 100_000) / chunks, chunksForTxFigure: chunks, redeemGasPerChunk: Number(rep.gasUsed) / chunks,
    defaultFaceValue: Number(face), defaultPricePerChunk: Number(price),
  }
}

export async function benchPayments(opts: { chunks?: number; log?: (s: string) => void } = {}): Promise<Record<string, number>> {
  const log = opts.log ?? (() => {})
  const chain = await createChain({ kind: 'embedded', accounts: 8 })
  const d = await deploySouk(chain, chain.devKeys[0])
  const [, payerKey, payeeKey, payee2Key] = chain.devKeys as Hex[]
  await fundPayer('lottery', { chain, deployment: d, key: payerKey }, {
    deposit: 10n ** 20n,
    reserves: [{ payee: privateKeyToAddress(payeeKey), amount: 10n ** 20n }, { payee: privateKeyToAddress(payee2Key), amount: 10n ** 20n }],
  })
  const extraPayers = (chain.devKeys as Hex[]).slice(4, 7)
  for (const key of extraPayers) await fundPayer('lottery', { chain, deployment: d, key }, { deposit: 0n, reserves: [{ payee: privateKeyToAddress(payee2Key), amount: 10n ** 20n }] })
  log('measuring redemption gas…')
  const gas = await redeemGas(chain, d, payerKey, payeeKey)
  log('measuring ticket verification…')
  const ver = await verifyRates(chain, d, payerKey, payee2Key)
  log('measuring ticket verification with 64 streams at once (4 payers): inline, then on 1 and 2 worker threads…')
  const streams = [payerKey, ...extraPayers]
  const concurrent = {
    ticketsVerifiedPerSecondConcurrentInline: await verifyRatesConcurrent(chain, d, streams, payee2Key),
    ticketsVerifiedPerSecond1Worker: await verifyRatesConcurrent(chain, d, streams, payee2Key, { workers: 1 }),
    ticketsVerifiedPerSecond2Workers: await verifyRatesConcurrent(chain, d, streams, payee2Key, { workers: 2 }),
  }
  log(`paying ${(opts.chunks ?? 1_000_000).toLocaleString('en-US')} chunks with tickets…`)
  const txs = await txsPerChunks(chain, d, payerKey, payee2Key, opts.chunks, log)
  await chain.close()
  return {
    ...gas,
    batch100VsSingle: gas.redeemGasPerTicketBatch100 / gas.redeemGasSingle,
    ...ver,
    ...concurrent,
    workers2ToInline: concurrent.ticketsVerifiedPerSecond2Workers / concurrent.ticketsVerifiedPerSecondConcurrentInline,
    ...txs,
  }
}

export function writeResult(name: string, data: Record<string, unknown>) {
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  writeFileSync(new URL(`${name}.json`, dir), JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, ...data }, null, 2) + '\n')
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchPayments({ log: (s) => process.stderr.write(s + '\n') })
  writeResult('payments', r)
  console.log(JSON.stringify(r, null, 2))
}
