/**
 * The compute worker (server): sells transcoding with a signed market offer, signs jobs whose compute terms it
 * accepts (and approves the stake they lock), transcodes each unit a client sends with sharp, claims every batch
 * on chain with one Merkle root over (unit, input hash, output hash) when its client asks, answers demands for a
 * challenged unit's leaf, settles the batches whose dispute window closed, finalizes and withdraws.
 *
 * Adversarial behaviours (`models/compute.yaml`): `lazy` returns garbage instead of doing the work, `black` right-
 * sized black frames, `wrong-resolution` a smaller rendition than the profile's (Livepeer's hole), `colluding` is
 * `lazy` and counts on a verifier of its own to approve it. Each still claims its batches like an honest worker.
 *
 * Roles do no I/O of their own: transport, chain, store, clock and logger come in.
 */
import type { Address, Hex } from 'viem'
import type { Clock } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import { bytesToHex, keccak256 } from '../../crypto/index.js'
import { readMessage, sendMessage, type MessageStream, type Transport } from '../../net/index.js'
import { createMarketChecker } from '../../market/check.js'
import { MarketRejectedError } from '../../market/errors.js'
import { perUnit, priceOf, type Offer } from '../../market/schema.js'
import { marketHash, signDealBody, signOffer, type MarketDomain, type MarketSigner } from '../../market/sign.js'
import { buildWorkTree, workPath } from '../../proofs/work/index.js'
import { InsufficientDeterrenceError, sizeChecks } from '../../proofs/work/sizing.js'
import type { ServiceEventSink } from '../market.js'
import type { ComputeChain } from './chain.js'
import { jobCodec, jobReplyCodec, joinParts, splitParts, workCodec, workReplyCodec, COMPUTE_JOB, COMPUTE_MAX_UNIT_BYTES, COMPUTE_WORK, type ComputeTerms } from './protocol.js'
import type { WorkerJob, WorkerStore } from './store.js'
import { termsNonce } from './terms.js'
import { blackOutput, lazyOutput, profileHash, transcodeSegment, wrongResolutionOutput, type TranscodeProfile } from './transcode.js'

export const WORKER_BEHAVIOURS = ['honest', 'lazy', 'black', 'wrong-resolution', 'colluding'] as const
export type WorkerBehaviour = (typeof WORKER_BEHAVIOURS)[number]

export interface WorkerComponents {
  transport: Transport
  chain: ComputeChain
  signer: MarketSigner
  store: WorkerStore
  clock: Clock
  logger: Logger
  onEvent?: ServiceEventSink
  /** Runs the transcoding (sharp, off the event loop's clock): `RoleComponents.external`; absent, it is awaited. */
  external?: <T>(work: () => Promise<T>) => Promise<T>
}

export interface WorkerOptions {
  marketDomain: MarketDomain
  /** What one unit (one segment) costs, token units. */
  pricePerUnit: bigint
  /** The most stake it locks in one job. */
  maxStake: bigint
  /** The largest batch it claims (a tree of at most this many leaves). */
  maxBatch: number
  /** Dispute windows it accepts: at least this many blocks to answer a demand. */
  minResponseWindow: number
  behaviour: WorkerBehaviour
  /** Frames of a unit encoded at once (the output is the same bytes whatever it is). */
  parallel: number
}

export interface WorkerStats {
  jobs: number
  unitsDone: number
  unitsFaked: number
  workMs: number
  batchesClaimed: number
  claimGas: bigint
  batchesSettled: number
  batchesFaulted: number
  demandsAnswered: number
  earned: bigint
  withdrawn: bigint
  refused: Record<string, number>
}

export interface ComputeWorker {
  readonly offer: Offer
  stats(): WorkerStats
  /** Answers demands, settles closed batches, finalizes finished jobs (the run loop calls it each `pollMs`). */
  tick(): Promise<void>
  /** Finalizes what it can and withdraws its balance. */
  settle(): Promise<{ finalized: number; withdrawn: bigint }>
  stop(): Promise<void>
}

interface Live { job: WorkerJob; delivered: number; claimedTo: number }

export async function createComputeWorker(c: WorkerComponents, o: WorkerOptions): Promise<ComputeWorker> {
  const { transport, chain, store, clock } = c
  const log = c.logger.child('compute-worker')
  const emit = c.onEvent ?? (() => {})
  const checker = createMarketChecker({ domain: o.marketDomain, clock, service: 'compute' })
  const st: WorkerStats = { jobs: 0, unitsDone: 0, unitsFaked: 0, workMs: 0, batchesClaimed: 0, claimGas: 0n, batchesSettled: 0, batchesFaulted: 0, demandsAnswered: 0, earned: 0n, withdrawn: 0n, refused: {} }
  const refused = (why: string) => { st.refused[why] = (st.refused[why] ?? 0) + 1 }
  const me = chain.account
  const offer = signOffer({
    type: 'offer', service: 'compute', server: me, peer: transport.peerId,
    resources: { bytes: 0, bandwidthBps: 0, durationSec: 0, computeUnits: 1_000_000 }, price: perUnit(o.pricePerUnit),
    collateral: o.maxStake, schemes: ['escrow'], region: 'any', latencyMs: 0, addresses: transport.addresses().slice(0, 16), capabilities: ['transcode'],
    expiresAt: clock.now() + 24 * 3_600_000, seq: BigInt(clock.now()),
  }, c.signer, o.marketDomain)

  const live = new Map<Hex, Live>()
  for (const j of store.jobs()) {
    if (j.state === 'ended') continue
    const bs = store.batches(j.jobId)
    const claimedTo = bs.reduce((m, b) => Math.max(m, b.first + b.count), 0)
    live.set(j.jobId, { job: j, delivered: claimedTo, claimedTo })
  }

  // --- Jobs: hand out the offer; sign a proposed job whose terms we accept.
  await transport.handle(COMPUTE_JOB, async (stream, peer) => {
    const m = await readMessage(stream, jobCodec, { timeoutMs: 10_000 })
    if (m.type === 'get-offer') return sendMessage(stream, jobReplyCodec, { type: 'offer', offer })
    const no = async (reason: string) => { refused(reason.split(':')[0]); log.info('job refused', { client: peer, reason }); await sendMessage(stream, jobReplyCodec, { type: 'refuse', reason }) }
    const t = m.terms
    try {
      const ask = checker.ask(m.ask)
      checker.dealTerms(m.deal, { offer, ask })
      checker.dealSignature(m.deal, m.buyerSig, 'buyer')
    } catch (e) {
      if (e instanceof MarketRejectedError) return no(`${e.reason}: ${e.shortMessage}`)
      throw e
    }
    const d = m.deal
    if (d.nonce !== termsNonce(t)) return no('terms-mismatch: the deal nonce is not the hash of these compute terms')
    if (profileHash(m.profile) !== t.profile) return no('terms-mismatch: the profile is not the one the terms name')
    if (t.pricePerUnit < o.pricePerUnit) return no(`price: ${t.pricePerUnit} a unit is below our ${o.pricePerUnit}`)
    if (priceOf(d.price, d.usage) !== t.pricePerUnit * BigInt(t.units)) return no('terms-mismatch: the deal price is not the units paid')
    if (d.collateral !== t.stake) return no('terms-mismatch: deal and terms name different stakes')
    if (t.stake > o.maxStake) return no(`stake: ${t.stake} is above the ${o.maxStake} we lock`)
    if (t.maxBatch > o.maxBatch) return no(`batch: at most ${o.maxBatch} units a claim`)
    if (t.responseWindow < o.minResponseWindow) return no(`schedule: at least ${o.minResponseWindow} blocks to answer a demand`)
    try { sizeChecks({ pricePerUnit: t.pricePerUnit, maxBatch: t.maxBatch, checksPerBatch: t.checksPerBatch, slash: t.slash, stake: t.stake }) } catch (e) {
      if (e instanceof InsufficientDeterrenceError) return no(`deterrence: ${e.message}`)
      throw e
    }
    const jobId = marketHash(o.marketDomain, d)
    if (live.has(jobId) || store.job(jobId)) return no('replayed: a job we already hold')
    await chain.approveStake(t.stake)
    const serverSig = signDealBody(d, c.signer, o.marketDomain)
    const job: WorkerJob = { jobId, client: d.buyer, deal: { ...d, serverSig, buyerSig: m.buyerSig }, terms: t, profile: m.profile, state: 'signed' }
    store.putJob(job)
    live.set(jobId, { job, delivered: 0, claimedTo: 0 })
    st.jobs++
    emit({ kind: 'job-signed', jobId, client: d.buyer, units: t.units, pricePerUnit: t.pricePerUnit, stake: t.stake, profile: m.profile.name })
    await sendMessage(stream, jobReplyCodec, { type: 'accept', serverSig })
  })

  /** What this worker returns for a unit: the real rendition, or its behaviour's fake. */
  async function render(input: Uint8Array, profile: TranscodeProfile, unit: number): Promise<Uint8Array> {
    if (o.behaviour === 'honest') return transcodeSegment(input, profile, { parallel: o.parallel })
    st.unitsFaked++
    if (o.behaviour === 'black') return blackOutput(input, profile)
    if (o.behaviour === 'wrong-resolution') return wrongResolutionOutput(input, profile)
    return lazyOutput(input, profile, { mode: 'noise', seed: unit })
  }

  // --- Work: the client sends units in order; each is transcoded and returned; a claim posts the batch's root.
  await transport.handle(COMPUTE_WORK, async (stream, peer) => {
    const refuse = async (reason: string) => { refused(reason.split(':')[0]); log.info('work refused', { client: peer, reason }); await sendMessage(stream, workReplyCodec, { header: { type: 'refuse', reason }, body: new Uint8Array(0) }) }
    const open = await readMessage(stream, workCodec, { timeoutMs: 10_000 })
    if (open.header.type !== 'open') return refuse('protocol: open the job first')
    const jobId = open.header.jobId
    const l = live.get(jobId)
    if (!l) return refuse('unknown-job: no job of ours with this id')
    const onChain = await chain.job(jobId)
    if (onChain.state !== 'open' || onChain.worker !== me) return refuse('unknown-job: the job is not open on chain with us as its worker')
    if (l.job.state === 'signed') { l.job = { ...l.job, state: 'open' }; store.setState(jobId, 'open') }
    l.delivered = Math.max(l.delivered, onChain.nextUnit)
    l.claimedTo = Math.max(l.claimedTo, onChain.nextUnit)
    await sendMessage(stream, workReplyCodec, { header: { type: 'ready', next: l.delivered }, body: new Uint8Array(0) })
    const t = l.job.terms
    for (;;) {
      let m
      try { m = await readMessage(stream, workCodec, { timeoutMs: 60_000 }) } catch { return }
      const h = m.header
      if (h.type === 'input') {
        if (h.unit !== l.delivered) return refuse(`out-of-order: unit ${h.unit}, expected ${l.delivered}`)
        if (h.unit >= t.units) return refuse(`out-of-range: the job has ${t.units} units`)
        const input = await readParts(stream, h.parts, m.body, h.part)
        if (!input) return refuse('protocol: the parts of a unit came out of order')
        const t0 = clock.now()
        let output: Uint8Array
        try { output = await (c.external ? c.external(() => render(input, l.job.profile, h.unit)) : render(input, l.job.profile, h.unit)) } catch (e) { return refuse(`bad-input: ${(e as Error).message.split('\n')[0]}`) }
        st.workMs += clock.now() - t0
        const inputHash = bytesToHex(keccak256(input)), outputHash = bytesToHex(keccak256(output))
        store.putLeaf(jobId, h.unit, inputHash, outputHash)
        l.delivered++
        st.unitsDone++
        const ps = splitParts(output)
        for (let i = 0; i < ps.length; i++) await sendMessage(stream, workReplyCodec, { header: { type: 'output', unit: h.unit, part: i, parts: ps.length, outputHash }, body: ps[i] })
      } else if (h.type === 'claim') {
        if (h.first !== l.claimedTo || h.first + h.count > l.delivered || h.count > t.maxBatch) return refuse(`bad-claim: units [${h.first}, ${h.first + h.count}) are not the next delivered batch`)
        const leaves = store.leaves(jobId, h.first, h.count)
        const tree = buildWorkTree(h.first, leaves.map((x) => x!))
        let r
        try { r = await chain.claimWork(jobId, h.first, h.count, tree.root) } catch (e) { return refuse(`chain: ${(e as Error).message.split('\n')[0]}`) }
        store.putBatch({ jobId, batch: r.batch, first: h.first, count: h.count, root: tree.root, state: 'claimed' })
        l.claimedTo = h.first + h.count
        st.batchesClaimed++
        st.claimGas += r.gasUsed
        emit({ kind: 'work-claimed', jobId, batch: r.batch, first: h.first, count: h.count, root: tree.root, gas: r.gasUsed, tx: r.tx })
        await sendMessage(stream, workReplyCodec, { header: { type: 'claimed', batch: r.batch, root: tree.root, tx: r.tx }, body: new Uint8Array(0) })
      } else return refuse('protocol: open twice')
    }
  })

  /** Reads the remaining parts of a unit whose first part came with `body`. */
  async function readParts(stream: MessageStream, parts: number, body: Uint8Array, part: number): Promise<Uint8Array | undefined> {
    if (part !== 0) return undefined
    const got = [body]
    let size = body.length
    for (let i = 1; i < parts; i++) {
      const m = await readMessage(stream, workCodec, { timeoutMs: 30_000 })
      if (m.header.type !== 'input' || m.header.part !== i || m.header.parts !== parts) return undefined
      size += m.body.length
      if (size > COMPUTE_MAX_UNIT_BYTES) return undefined
      got.push(m.body)
    }
    return joinParts(got)
  }

  let ticking = false
  async function tick(): Promise<void> {
    if (ticking) return
    ticking = true
    try {
      const now = await chain.blockNumber()
      for (const [jobId, l] of live) {
        if (l.job.state !== 'open') continue
        // Answer demands: the leaf and its path, from what we stored.
        for (const d of await chain.openDemands(jobId).catch(() => [])) {
          const b = store.batches(jobId).find((x) => x.batch === d.batch)
          if (!b) continue
          const challenged = await chain.challenged(jobId, d.batch)
          const unit = challenged?.[d.index]
          if (unit === undefined) continue
          const leaves = store.leaves(jobId, b.first, b.count).map((x) => x!)
          const tree = buildWorkTree(b.first, leaves)
          const leaf = leaves[unit - b.first]
          try {
            await chain.answer(jobId, d.batch, d.index, leaf.inputHash, leaf.outputHash, workPath(tree, unit - b.first))
            st.demandsAnswered++
            emit({ kind: 'demand-answered', jobId, batch: d.batch, unit })
          } catch (e) { log.warn('could not answer a demand', { jobId, batch: d.batch, reason: (e as Error).message.split('\n')[0] }) }
        }
        // Settle every claimed batch whose dispute window closed.
        const due: number[] = []
        for (const b of store.batches(jobId)) {
          if (b.state !== 'claimed') continue
          const cb = await chain.batch(jobId, b.batch)
          if (cb.state === 'faulted') { store.putBatch({ ...b, state: 'faulted' }); st.batchesFaulted++; emit({ kind: 'batch-faulted', jobId, batch: b.batch }); continue }
          if (cb.state === 'settled') { store.putBatch({ ...b, state: 'settled' }); continue }
          if (now > cb.disputeEnd && cb.demands === 0) due.push(b.batch)
        }
        if (due.length) {
          try {
            const r = await chain.settle(jobId, due)
            for (const b of r.settled) {
              const sb = store.batches(jobId).find((x) => x.batch === b)!
              store.putBatch({ ...sb, state: 'settled' })
              st.batchesSettled++
              st.earned += l.job.terms.pricePerUnit * BigInt(sb.count)
            }
            emit({ kind: 'batches-settled', jobId, batches: r.settled, tx: r.tx })
          } catch (e) { log.warn('could not settle', { jobId, reason: (e as Error).message.split('\n')[0] }) }
        }
        // Finalize a job whose every unit was claimed and resolved.
        const j = await chain.job(jobId)
        if (j.state === 'finalized') { l.job = { ...l.job, state: 'ended' }; store.setState(jobId, 'ended'); continue }
        if (j.nextUnit >= l.job.terms.units && j.unresolved === 0) {
          try {
            await chain.finalize(jobId)
            l.job = { ...l.job, state: 'ended' }
            store.setState(jobId, 'ended')
            emit({ kind: 'job-finalized', jobId })
          } catch (e) { log.warn('could not finalize', { jobId, reason: (e as Error).message.split('\n')[0] }) }
        }
      }
    } finally { ticking = false }
  }

  return {
    offer,
    stats: () => ({ ...st, refused: { ...st.refused } }),
    tick,
    async settle() {
      await tick()
      let finalized = 0
      for (const l of live.values()) if (l.job.state === 'ended') finalized++
      const bal = await chain.balanceOf(me)
      let withdrawn = 0n
      if (bal > 0n) { withdrawn = (await chain.withdraw()).amount; st.withdrawn += withdrawn }
      return { finalized, withdrawn }
    },
    async stop() {
      await transport.unhandle(COMPUTE_JOB).catch(() => {})
      await transport.unhandle(COMPUTE_WORK).catch(() => {})
    },
  }
}

export type { Address }
