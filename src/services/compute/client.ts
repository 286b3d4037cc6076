/**
 * The compute client: makes a job with a worker through the market (its signed offer, our signed ask, a deal both
 * sign whose nonce is the hash of the compute terms), opens it on chain with the escrow (the worker's stake locked in
 * the same transaction), sends the units one by one and keeps each output, asks for a work claim per batch and
 * checks the claimed root against the leaves it saw, and once a batch's challenges are drawn from the chain sends
 * each challenged unit to every checker: they commit to their verdicts, then reveal; with `quorum` signed bad
 * verdicts it faults the batch (the worker's slash comes to us, the finder's fee too). At the end it finalizes and
 * withdraws what the contract owes it.
 *
 * `false-accuse` is the adversarial client: it signs verdicts of its own against honest batches and tries to fault
 * them (the contract refuses a verdict from a non-checker).
 */
import type { Address, Hex } from 'viem'
import type { Clock } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import { bytesToHex, keccak256, type Rng } from '../../crypto/index.js'
import { readMessage, sendMessage, type MessageStream, type Transport } from '../../net/index.js'
import { createMarketChecker, unmet } from '../../market/check.js'
import { LIMITS, priceOf, type Offer } from '../../market/schema.js'
import { marketHash, signAsk, signDealBody, type MarketDomain, type MarketSigner } from '../../market/sign.js'
import { buildWorkTree, workPath } from '../../proofs/work/index.js'
import { verdictCommitment } from '../../proofs/work/replication.js'
import { minSlash } from '../../proofs/work/sizing.js'
import { signVerdict } from '../../proofs/work/verdict.js'
import type { ServiceEventSink } from '../market.js'
import type { ComputeChain } from './chain.js'
import {
  checkCodec, checkReplyCodec, jobCodec, jobReplyCodec, joinParts, splitParts, workCodec, workReplyCodec, COMPUTE_CHECK, COMPUTE_JOB, COMPUTE_MAX_UNIT_BYTES,
  COMPUTE_WORK, type ComputeTerms,
} from './protocol.js'
import { termsNonce } from './terms.js'
import { profileHash, type TranscodeProfile } from './transcode.js'

export type ClientBehaviour = 'honest' | 'false-accuse'

export interface ClientComponents {
  transport: Transport
  chain: ComputeChain
  signer: MarketSigner
  /** The key of `signer` (a `false-accuse` client signs verdicts with it). */
  key: Hex
  chainId: number
  token: Address
  clock: Clock
  rng: Rng
  logger: Logger
  onEvent?: ServiceEventSink
}

export interface Checker { address: Address; peer: string }

export interface ClientOptions {
  marketDomain: MarketDomain
  /** The worker's address (multiaddr or peer id). */
  worker: string
  checkers: readonly Checker[]
  quorum: number
  profile: TranscodeProfile
  units: number
  /** The input of unit u (the caller's video, cut into segments). */
  input(unit: number): Uint8Array
  maxBatch: number
  checksPerBatch: number
  /** Slash as a multiple of the least the deterrence rule allows. */
  slashMultiple: bigint
  finderBps: number
  challengeDelay: number
  disputeWindow: number
  responseWindow: number
  claimWithinBlocks: number
  /** The most it pays a unit (refuses a dearer offer). */
  maxPricePerUnit: bigint
  behaviour: ClientBehaviour
  dealMs: number
}

export interface ClientResult {
  jobId?: Hex
  error?: string
  pricePerUnit?: bigint
  stake?: bigint
  unitsSent: number
  unitsReceived: number
  batchesClaimed: number
  rootMismatches: number
  checks: number
  badVerdicts: number
  faults: number
  faultsRefused: number
  slashedToUs: bigint
  batchesResolved: number
  withdrawn: bigint
  ended: boolean
}

export interface ComputeClient {
  /** Makes the job, opens it, sends every unit and gets every batch claimed (rejects with the reason). */
  readonly worked: Promise<Hex>
  result(): ClientResult
  /** Checks what is due now (challenges drawn since the last call); the run loop calls it each `pollMs`. */
  tick(): Promise<void>
  /** Resolves when every batch was checked and resolved, the job finalized and our balance withdrawn. */
  readonly done: Promise<void>
  stop(): Promise<void>
}

export class ComputeJobError extends Error {
  override name = 'ComputeJobError'
}

interface Batch { batch: number; first: number; count: number; root: Hex; tree: ReturnType<typeof buildWorkTree>; checked: boolean; resolved: boolean; mismatch: boolean }

export async function createComputeClient(c: ClientComponents, o: ClientOptions): Promise<ComputeClient> {
  const { transport, chain, clock } = c
  const log = c.logger.child('compute-client')
  const emit = c.onEvent ?? (() => {})
  const checker = createMarketChecker({ domain: o.marketDomain, clock, service: 'compute' })
  const me = chain.account
  const res: ClientResult = { unitsSent: 0, unitsReceived: 0, batchesClaimed: 0, rootMismatches: 0, checks: 0, badVerdicts: 0, faults: 0, faultsRefused: 0, slashedToUs: 0n, batchesResolved: 0, withdrawn: 0n, ended: false }
  if (o.quorum < 1 || o.quorum > o.checkers.length) throw new RangeError(`quorum must be in [1, ${o.checkers.length}]`)
  const batches: Batch[] = []
  /** What we sent and received, per unit: (inputHash, outputHash) and the bytes a checker needs. */
  const inputs = new Map<number, Uint8Array>()
  const outputs = new Map<number, Uint8Array>()
  const leaves: { inputHash: Hex; outputHash: Hex }[] = []
  let terms: ComputeTerms | undefined
  let stopped = false

  async function makeJob(): Promise<Hex> {
    const s1 = await transport.dial(o.worker, COMPUTE_JOB, { timeoutMs: 10_000 })
    let offer: Offer
    try {
      await sendMessage(s1, jobCodec, { type: 'get-offer' })
      const r = await readMessage(s1, jobReplyCodec, { timeoutMs: 10_000 })
      if (r.type !== 'offer') throw new ComputeJobError(`the worker sent ${r.type} instead of its offer`)
      offer = checker.offer(r.offer)
    } finally { await s1.close().catch(() => {}) }
    const rate = offer.price.rates.find((x) => x.usage === 'units')
    if (!rate || rate.per !== 1n) throw new ComputeJobError('the worker does not price per unit')
    const price = rate.price
    if (price > o.maxPricePerUnit) throw new ComputeJobError(`the worker asks ${price} a unit, above our ${o.maxPricePerUnit}`)
    const slash = minSlash({ pricePerUnit: price, maxBatch: o.maxBatch, checksPerBatch: o.checksPerBatch }) * o.slashMultiple
    const batchCount = Math.ceil(o.units / o.maxBatch)
    terms = {
      token: c.token, checkers: o.checkers.map((x) => x.address), quorum: o.quorum, units: o.units, maxBatch: o.maxBatch, pricePerUnit: price,
      stake: slash * BigInt(batchCount), slash, checksPerBatch: o.checksPerBatch, finderBps: o.finderBps, challengeDelay: o.challengeDelay,
      disputeWindow: o.disputeWindow, responseWindow: o.responseWindow, claimWithinBlocks: o.claimWithinBlocks, profile: profileHash(o.profile),
    }
    const total = price * BigInt(o.units)
    const now = clock.now()
    const ask = signAsk({
      type: 'ask', service: 'compute', buyer: me, peer: transport.peerId,
      resources: { bytes: 0, bandwidthBps: 0, durationSec: 0, computeUnits: o.units }, usage: { units: BigInt(o.units) },
      maxPrice: o.maxPricePerUnit * BigInt(o.units), minCollateral: terms.stake, schemes: ['escrow'], regions: [], maxLatencyMs: 0, capabilities: ['transcode'],
      servers: 1, expiresAt: now + 120_000, seq: BigInt(now) * 1000n + BigInt(c.rng(1)[0]),
    }, c.signer, o.marketDomain)
    const why = unmet({ ...ask, maxPrice: LIMITS.maxAmount }, offer)
    if (why) throw new ComputeJobError(`the worker's offer does not meet our ask: ${why}`)
    const deal = {
      type: 'deal' as const, service: 'compute', offer: marketHash(o.marketDomain, offer), ask: marketHash(o.marketDomain, ask), server: offer.server, buyer: me,
      price: offer.price, usage: { units: BigInt(o.units) }, collateral: terms.stake, scheme: 'escrow', startsAt: now, endsAt: now + o.dealMs, nonce: termsNonce(terms),
    }
    if (priceOf(deal.price, deal.usage) !== total) throw new ComputeJobError('the offer\'s price model does not give the units\' price')
    const buyerSig = signDealBody(deal, c.signer, o.marketDomain)
    const s2 = await transport.dial(o.worker, COMPUTE_JOB, { timeoutMs: 10_000 })
    let serverSig: Hex
    try {
      await sendMessage(s2, jobCodec, { type: 'propose', ask, deal, buyerSig, terms, profile: o.profile })
      const r = await readMessage(s2, jobReplyCodec, { timeoutMs: 30_000 })
      if (r.type === 'refuse') throw new ComputeJobError(`the worker refused the job: ${r.reason}`)
      if (r.type !== 'accept') throw new ComputeJobError(`the worker sent ${r.type} instead of its signature`)
      serverSig = r.serverSig
      checker.dealSignature(deal, serverSig, 'server')
    } finally { await s2.close().catch(() => {}) }
    const opened = await chain.openJob({ ...deal, serverSig, buyerSig }, terms)
    res.jobId = opened.jobId
    res.pricePerUnit = price
    res.stake = terms.stake
    emit({ kind: 'job-opened', jobId: opened.jobId, worker: offer.server, pricePerUnit: price, units: o.units, stake: terms.stake, slash, tx: opened.tx })
    log.info('job opened', { jobId: opened.jobId, pricePerUnit: price.toString(), stake: terms.stake.toString() })
    return opened.jobId
  }

  async function readOutput(s: MessageStream, unit: number): Promise<{ output: Uint8Array; outputHash: Hex }> {
    const parts: Uint8Array[] = []
    let size = 0, n = 1, hash: Hex | undefined
    for (let i = 0; i < n; i++) {
      const m = await readMessage(s, workReplyCodec, { timeoutMs: 120_000 })
      if (m.header.type === 'refuse') throw new ComputeJobError(`the worker stopped at unit ${unit}: ${m.header.reason}`)
      if (m.header.type !== 'output' || m.header.unit !== unit || m.header.part !== i) throw new ComputeJobError(`the worker sent ${m.header.type} instead of part ${i} of unit ${unit}`)
      n = m.header.parts
      hash = m.header.outputHash
      size += m.body.length
      if (size > COMPUTE_MAX_UNIT_BYTES) throw new ComputeJobError(`the output of unit ${unit} is larger than ${COMPUTE_MAX_UNIT_BYTES} bytes`)
      parts.push(m.body)
    }
    const output = joinParts(parts)
    const outputHash = bytesToHex(keccak256(output))
    if (outputHash !== hash) throw new ComputeJobError(`the output of unit ${unit} does not hash to what the worker said`)
    return { output, outputHash }
  }

  async function work(jobId: Hex): Promise<void> {
    const s = await transport.dial(o.worker, COMPUTE_WORK, { timeoutMs: 10_000 })
    try {
      await sendMessage(s, workCodec, { header: { type: 'open', jobId }, body: new Uint8Array(0) })
      const r = await readMessage(s, workReplyCodec, { timeoutMs: 30_000 })
      if (r.header.type === 'refuse') throw new ComputeJobError(`the worker refused the work: ${r.header.reason}`)
      if (r.header.type !== 'ready' || r.header.next !== 0) throw new ComputeJobError(`the worker sent ${r.header.type} instead of ready at unit 0`)
      for (let first = 0; first < o.units && !stopped; first += o.maxBatch) {
        const count = Math.min(o.maxBatch, o.units - first)
        for (let u = first; u < first + count; u++) {
          const input = o.input(u)
          const ps = splitParts(input)
          for (let i = 0; i < ps.length; i++) await sendMessage(s, workCodec, { header: { type: 'input', unit: u, part: i, parts: ps.length }, body: ps[i] })
          res.unitsSent++
          const { output, outputHash } = await readOutput(s, u)
          inputs.set(u, input)
          outputs.set(u, output)
          leaves[u] = { inputHash: bytesToHex(keccak256(input)), outputHash }
          res.unitsReceived++
        }
        await sendMessage(s, workCodec, { header: { type: 'claim', first, count }, body: new Uint8Array(0) })
        const cl = await readMessage(s, workReplyCodec, { timeoutMs: 120_000 })
        if (cl.header.type === 'refuse') throw new ComputeJobError(`the worker did not claim units [${first}, ${first + count}): ${cl.header.reason}`)
        if (cl.header.type !== 'claimed') throw new ComputeJobError(`the worker sent ${cl.header.type} instead of its claim`)
        const tree = buildWorkTree(first, leaves.slice(first, first + count))
        const onChain = await chain.batch(jobId, cl.header.batch)
        const mismatch = onChain.root !== tree.root || onChain.first !== first || onChain.count !== count
        if (mismatch) {
          res.rootMismatches++
          log.warn('the claimed root is not the outputs we received', { jobId, batch: cl.header.batch })
        }
        batches.push({ batch: cl.header.batch, first, count, root: onChain.root, tree, checked: false, resolved: false, mismatch })
        res.batchesClaimed++
        emit({ kind: 'batch-claimed', jobId, batch: cl.header.batch, first, count, rootMatches: !mismatch })
      }
    } finally { await s.close().catch(() => {}) }
  }

  /** Sends challenged unit `unit` (index `index` of `b`) to every checker: commits first, then reveals. */
  async function check(jobId: Hex, b: Batch, index: number, unit: number): Promise<{ bad: Hex[]; reasons: string[] }> {
    const input = inputs.get(unit)!, output = outputs.get(unit)!
    const path = workPath(b.tree, unit - b.first)
    const body = joinParts([input, output])
    const ps = splitParts(body)
    const opened: { s: MessageStream; checker: Checker; commitment: Hex }[] = []
    for (const ck of o.checkers) {
      try {
        const s = await transport.dial(ck.peer, COMPUTE_CHECK, { timeoutMs: 10_000 })
        for (let i = 0; i < ps.length; i++) {
          const header = i === 0
            ? { type: 'check' as const, jobId, batch: b.batch, index, unit, inputBytes: input.length, outputBytes: output.length, path, profile: o.profile, part: 0, parts: ps.length }
            : { type: 'part' as const, part: i, parts: ps.length }
          await sendMessage(s, checkCodec, { header, body: ps[i] })
        }
        const r = await readMessage(s, checkReplyCodec, { timeoutMs: 300_000 })
        if (r.type !== 'commit') { log.warn('a checker did not commit', { checker: ck.address, reply: r.type, reason: r.type === 'refuse' ? r.reason : undefined }); await s.close().catch(() => {}); continue }
        opened.push({ s, checker: ck, commitment: r.commitment })
      } catch (e) { log.warn('a checker could not be reached', { checker: ck.address, reason: (e as Error).message.split('\n')[0] }) }
    }
    // Every commitment is in: only now may anyone reveal.
    const bad: Hex[] = [], reasons: string[] = []
    const outputHash = leaves[unit].outputHash
    for (const x of opened) {
      try {
        await sendMessage(x.s, checkCodec, { header: { type: 'reveal' }, body: new Uint8Array(0) })
        const r = await readMessage(x.s, checkReplyCodec, { timeoutMs: 30_000 })
        if (r.type !== 'ok' && r.type !== 'bad') continue
        const verdict = r.type === 'ok' ? 'ok' as const : 'bad' as const
        if (verdictCommitment({ jobId, batch: b.batch, unit, outputHash, verdict, salt: r.salt, checker: x.checker.address }) !== x.commitment) {
          log.warn('a checker revealed a verdict that is not its commitment', { checker: x.checker.address })
          continue
        }
        res.checks++
        if (r.type === 'bad') { bad.push(r.sig); reasons.push(r.reason) }
      } catch (e) { log.warn('a checker did not reveal', { checker: x.checker.address, reason: (e as Error).message.split('\n')[0] }) }
      finally { await x.s.close().catch(() => {}) }
    }
    return { bad, reasons }
  }

  let ticking = false
  async function tick(): Promise<void> {
    if (ticking || !res.jobId || stopped) return
    ticking = true
    const jobId = res.jobId
    try {
      for (const b of batches) {
        if (b.resolved) continue
        if (!b.checked) {
          const units = await chain.challenged(jobId, b.batch)
          if (!units) continue
          b.checked = true
          for (let i = 0; i < units.length; i++) {
            const unit = units[i]
            const leaf = leaves[unit]
            if (o.behaviour === 'false-accuse') {
              const sig = await signVerdict(c.key, { chainId: c.chainId, verifyingContract: chain.address }, { jobId, batch: BigInt(b.batch), unit: BigInt(unit), output: leaf.outputHash })
              try { await chain.fault(jobId, b.batch, i, leaf.inputHash, leaf.outputHash, workPath(b.tree, unit - b.first), [sig]); res.faults++ } catch (e) {
                res.faultsRefused++
                log.info('our own verdict was refused, as it should be', { reason: (e as Error).message.split('\n')[0] })
              }
              break
            }
            if (b.mismatch) continue // the checkers refuse a leaf the root does not hold; the claim itself is the worker's risk
            const v = await check(jobId, b, i, unit)
            if (v.bad.length >= o.quorum) {
              res.badVerdicts++
              try {
                const f = await chain.fault(jobId, b.batch, i, leaf.inputHash, leaf.outputHash, workPath(b.tree, unit - b.first), v.bad.slice(0, o.quorum))
                res.faults++
                res.slashedToUs += f.slashed
                emit({ kind: 'batch-faulted', jobId, batch: b.batch, unit, reasons: v.reasons, slashed: f.slashed, tx: f.tx })
                log.info('faulted a batch', { jobId, batch: b.batch, unit, reason: v.reasons[0] })
              } catch (e) { log.warn('the fault was refused', { jobId, batch: b.batch, reason: (e as Error).message.split('\n')[0] }) }
              break
            }
          }
        }
        const cb = await chain.batch(jobId, b.batch)
        if (cb.state === 'settled' || cb.state === 'faulted') { b.resolved = true; res.batchesResolved++ }
      }
      if (!res.ended && batches.length === Math.ceil(o.units / o.maxBatch) && batches.every((b) => b.resolved)) {
        const j = await chain.job(jobId)
        if (j.state !== 'finalized') await chain.finalize(jobId).catch((e: unknown) => log.info('finalize: the worker may have done it', { reason: (e as Error).message.split('\n')[0] }))
        const bal = await chain.balanceOf(me)
        if (bal > 0n) res.withdrawn += (await chain.withdraw()).amount
        res.ended = true
        emit({ kind: 'job-ended', jobId, faults: res.faults, slashedToUs: res.slashedToUs, withdrawn: res.withdrawn })
        finish()
      }
    } catch (e) {
      log.warn('could not check the job', { reason: (e as Error).message.split('\n')[0] })
    } finally { ticking = false }
  }

  let finish: () => void = () => {}
  const done = new Promise<void>((r) => { finish = r })
  const worked = (async () => {
    const jobId = await makeJob()
    await work(jobId)
    return jobId
  })()
  worked.catch((e: unknown) => { res.error = (e as Error).message; log.warn('the job failed', { reason: res.error }); finish() })

  return {
    worked, done,
    result: () => ({ ...res }),
    tick,
    async stop() { stopped = true; finish() },
  }
}
