/**
 * Payments benchmark (issue 2). Every figure is measured in this run, on this machine:
 * - redeemGasSingle: gas of redeeming one winning ticket alone (steady state: the pair's nonce word exists).
 * - redeemGasPerTicketBatch10 / redeemGasPerTicketBatch100: gas per ticket of a batch (one token transfer).
 *   Targets: batch-100 per ticket ≤ 1/4 of single and < 60,000 (protocols.md: ≤ 16,000 to beat).
 * - ticketsVerifiedPerSecond: full payee validation of one-ticket payments through `LotteryPayee.receive`
 *   (schema, params, nonce, signature, draw), vs bareSignatureVerifiesPerSecond: the same signatures checked alone
 *   with the same library (libsecp256k1 verify with a known key). Target ratio ≥ 0.8.
 * - onChainTxsPer100kChunks: transactions the payee sends to redeem the winners of 100,000 one-chunk payments at
 *   default parameters (real tickets, real redemption).
 *
 * Run: `node --import tsx bench/payments.ts` (or `npm run bench`). Writes bench/results/payments.json.
 */
import { pathToFileURL } from 'node:url'
import { deploySouk, type SoukDeployment } from '../src/payments/deploy.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { createChain, write, abis, type Chain } from '../src/chain/index.js'
import { createPayee, createPayer, fundPayer, type Payment, type PaymentTerms } from '../src/payments/index.js'
import { signTicket, ticketDomain, ticketDigest, randHash, MAX_WIN_PROB, type Ticket } from '../src/payments/lottery/ticket.js'
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

async function redeemGas(chain: Chain, d: SoukDeployment, payerKey: Hex, payeeKey: Hex) {
  const payer = privateKeyToAddress(payerKey)
  const payee = privateKeyToAddress(payeeKey)
  const domain = ticketDomain(chain.chainId, d.contracts.lottery.ticketBroker)
  const rand = 987654321n
  const exp = (await chain.blockNumber()) + 100_000n
  let nonce = 0n
  const mk = () => signed(domain, { recipient: payee, sender: payer, faceValue: 10n ** 12n, winProb: MAX_WIN_PROB, senderNonce: nonce++, recipientRandHash: randHash(rand), expirationBlock: exp }, payerKey, rand)
  const w = chain.wallet(payeeKey)
  // Warm-up: the first redemption of a pair creates its nonce word and the payee's token balance.
  await write(chain, w, { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'redeemWinningTicket', args: [mk()] })
  const single = await write(chain, w, { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'redeemWinningTicket', args: [mk()] })
  const b10 = await write(chain, w, { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'batchRedeemWinningTickets', args: [Array.from({ length: 10 }, mk)] })
  const b100 = await write(chain, w, { address: d.contracts.lottery.ticketBroker, abi: abis.TicketBrokerAbi, functionName: 'batchRedeemWinningTickets', args: [Array.from({ length: 100 }, mk)] })
  return { redeemGasSingle: Number(single.gasUsed), redeemGasPerTicketBatch10: Number(b10.gasUsed) / 10, redeemGasPerTicketBatch100: Number(b100.gasUsed) / 100 }
}

async function verifyRates(chain: Chain, d: SoukDeployment, payerKey: Hex, payeeKey: Hex) {
  const payer = privateKeyToAddress(payerKey).toLowerCase() as Address
  const price = DEFAULT_PRICE_PER_CHUNK
  const pe = await createPayee('lottery', { chain, deployment: d, key: payeeKey, options: { maxTicketsPerRand: 1_000_000, paramsValidityBlocks: 1_000_000 }, ...components() })
  const session = await (await createPayer('lottery', { chain, deployment: d, key: payerKey, ...components() })).open(await pe.terms(payer, price))
  const n = 6_000
  const payments: Payment[] = []
  // Sign ahead in blocks, then time the payee's receive over each block back to back (signing excluded).
  // A win rotates the rand: the rest of that block is dropped and a new block is signed under the new terms.
  let spent = 0
  let received = 0
  while (received < n) {
    const block: Payment[] = []
    for (let i = 0; i < 250; i++) block.push(await session.pay(price))
    let rotated: PaymentTerms | undefined
    const t0 = performance.now()
    let k = 0
    for (; k < block.length && !rotated; k++) rotated = (await pe.receive(block[k])).terms
    spent += performance.now() - t0
    received += k
    payments.push(...block.slice(0, k))
    if (rotated) session.update(rotated)
  }
  const ticketsVerifiedPerSecond = (received * 1000) / spent
  let t: number
  // The same signatures, bare.
  const domain = ticketDomain(chain.chainId, d.contracts.lottery.ticketBroker)
  const items = payments.map((p) => {
    const b = p.body as { faceValue: bigint; winProb: bigint; recipientRandHash: Hex; expirationBlock: bigint; tickets: { nonce: bigint; sig: Hex }[] }
    const digest = ticketDigest(domain, { recipient: p.payee, sender: p.payer, faceValue: b.faceValue, winProb: b.winProb, senderNonce: b.tickets[0].nonce, recipientRandHash: b.recipientRandHash, expirationBlock: b.expirationBlock })
    return { digest, sig: hexToBytes(b.tickets[0].sig) }
  })
  const pub = recoverPublicKey(items[0].digest, items[0].sig)!
  t = performance.now()
  let ok = 0
  for (const it of items) if (verifyWithPublicKey(it.digest, it.sig, pub)) ok++
  const bareSignatureVerifiesPerSecond = (items.length * 1000) / (performance.now() - t)
  if (ok !== items.length) throw new Error('bare verification failed')
  await pe.close()
  return { ticketsVerifiedPerSecond, bareSignatureVerifiesPerSecond, verifyRatio: ticketsVerifiedPerSecond / bareSignatureVerifiesPerSecond }
}

async function txsPer100k(chain: Chain, d: SoukDeployment, payerKey: Hex, payeeKey: Hex, chunks = 100_000) {
  const payer = privateKeyToAddress(payerKey).toLowerCase() as Address
  const price = DEFAULT_PRICE_PER_CHUNK
  const pe = await createPayee('lottery', { chain, deployment: d, key: payeeKey, ...components() })
  const session = await (await createPayer('lottery', { chain, deployment: d, key: payerKey, ...components() })).open(await pe.terms(payer, price))
  let winners = 0
  for (let i = 0; i < chunks; i++) {
    const r = await pe.receive(await session.pay(price))
    if (r.winning) winners++
    if (r.terms) session.update(r.terms)
  }
  const rep = await pe.settle({ force: true })
  const face = (session.terms.params as { faceValue: bigint }).faceValue
  await pe.close()
  return { onChainTxsPer100kChunks: (rep.transactions * 100_000) / chunks, winnersPer100kChunks: (winners * 100_000) / chunks, defaultFaceValue: Number(face), defaultPricePerChunk: Number(price) }
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
  log('measuring redemption gas…')
  const gas = await redeemGas(chain, d, payerKey, payeeKey)
  log('measuring ticket verification…')
  const ver = await verifyRates(chain, d, payerKey, payee2Key)
  log('paying 100,000 chunks with tickets…')
  const txs = await txsPer100k(chain, d, payerKey, payee2Key, opts.chunks)
  await chain.close()
  return {
    ...gas,
    batch100VsSingle: gas.redeemGasPerTicketBatch100 / gas.redeemGasSingle,
    ...ver,
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
