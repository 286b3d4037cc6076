/**
 * The compute verifier (checker): one of a job's `checkers`. For a challenged unit a client sends it (the unit's
 * input, the worker's output and the output's Merkle path), it checks on chain that the unit is challenged in that
 * batch and that the leaf is in the worker's claimed root, re-executes the unit with sharp, and compares: exact
 * dimensions and format of every frame, then PSNR against its own rendition (`checkOutput`). It commits to its
 * verdict first (commit-reveal among replicated checkers, so none can copy another's), and on a mismatch reveals a
 * signed `Verdict` that lets anyone fault the batch.
 *
 * Adversarial behaviours (`models/compute.yaml`): `colluding` approves every output without looking (a verifier
 * bought by a lazy worker); `accuse` signs a bad verdict for every output, honest or not.
 *
 * Roles do no I/O of their own: transport, chain, clock, rng and logger come in.
 */
import type { Address, Hex } from 'viem'
import type { Clock } from '../../core/clock.js'
import type { Logger } from '../../core/logger.js'
import { bytesToHex, keccak256, type Rng } from '../../crypto/index.js'
import { readMessage, sendMessage, type Transport } from '../../net/index.js'
import { verifyWorkPath, workLeaf } from '../../proofs/work/index.js'
import { verdictCommitment } from '../../proofs/work/replication.js'
import { signVerdict } from '../../proofs/work/verdict.js'
import type { ServiceEventSink } from '../market.js'
import type { ComputeChain } from './chain.js'
import { checkCodec, checkReplyCodec, joinParts, COMPUTE_CHECK, COMPUTE_MAX_UNIT_BYTES } from './protocol.js'
import { checkOutput, profileHash, type TranscodeProfile } from './transcode.js'

export const VERIFIER_BEHAVIOURS = ['honest', 'colluding', 'accuse'] as const
export type VerifierBehaviour = (typeof VERIFIER_BEHAVIOURS)[number]

export interface VerifierComponents {
  transport: Transport
  chain: ComputeChain
  /** The checker's signing key (its address is in the jobs' `checkers`). */
  key: Hex
  /** The chain and contract its verdicts are signed for. */
  chainId: number
  clock: Clock
  rng: Rng
  logger: Logger
  onEvent?: ServiceEventSink
  /** Runs the re-execution (sharp, off the event loop's clock): `RoleComponents.external`; absent, it is awaited. */
  external?: <T>(work: () => Promise<T>) => Promise<T>
}

export interface VerifierOptions {
  behaviour: VerifierBehaviour
  /** PSNR (dB) below which a frame is not an honest rendition. */
  minPsnrDb: number
}

export interface VerifierStats { checks: number; ok: number; bad: number; refused: number; workMs: number; reasons: Record<string, number> }

export interface ComputeVerifier {
  stats(): VerifierStats
  stop(): Promise<void>
}

export async function createComputeVerifier(c: VerifierComponents, o: VerifierOptions): Promise<ComputeVerifier> {
  const { transport, chain } = c
  const log = c.logger.child('compute-verifier')
  const emit = c.onEvent ?? (() => {})
  const st: VerifierStats = { checks: 0, ok: 0, bad: 0, refused: 0, workMs: 0, reasons: {} }
  const me = chain.account

  await transport.handle(COMPUTE_CHECK, async (stream, peer) => {
    const refuse = async (reason: string) => { st.refused++; log.info('check refused', { client: peer, reason }); await sendMessage(stream, checkReplyCodec, { type: 'refuse', reason }) }
    const first = await readMessage(stream, checkCodec, { timeoutMs: 10_000 })
    const h = first.header
    if (h.type !== 'check') return refuse('protocol: a check starts with its header')
    if (h.inputBytes + h.outputBytes > COMPUTE_MAX_UNIT_BYTES) return refuse('too-large: the unit is larger than we check')
    const parts = [first.body]
    let size = first.body.length
    for (let i = 1; i < h.parts; i++) {
      const m = await readMessage(stream, checkCodec, { timeoutMs: 30_000 })
      if (m.header.type !== 'part' || m.header.part !== i) return refuse('protocol: the parts came out of order')
      size += m.body.length
      if (size > h.inputBytes + h.outputBytes) return refuse('protocol: more bytes than announced')
      parts.push(m.body)
    }
    const body = joinParts(parts)
    if (body.length !== h.inputBytes + h.outputBytes) return refuse('protocol: fewer bytes than announced')
    const input = body.subarray(0, h.inputBytes), output = body.subarray(h.inputBytes)
    // Only what the chain says is at stake: our job, this profile, a challenged unit, a leaf in the claimed root.
    let terms, batch, challenged
    try {
      terms = await chain.terms(h.jobId)
      if (!(await chain.isChecker(h.jobId, me))) return refuse('not-checker: we are not a checker of this job')
      batch = await chain.batch(h.jobId, h.batch)
      challenged = await chain.challenged(h.jobId, h.batch)
    } catch (e) { return refuse(`chain: ${(e as Error).message.split('\n')[0]}`) }
    if (profileHash(h.profile as TranscodeProfile) !== terms.profile) return refuse('profile: not the profile the job names')
    if (batch.state !== 'claimed') return refuse(`batch: batch ${h.batch} is ${batch.state}`)
    if (!challenged || challenged[h.index] !== h.unit) return refuse(`not-challenged: unit ${h.unit} is not challenge ${h.index} of batch ${h.batch}`)
    const inputHash = bytesToHex(keccak256(input)), outputHash = bytesToHex(keccak256(output))
    if (!verifyWorkPath(batch.root, h.unit - batch.first, batch.count, workLeaf(h.unit, inputHash, outputHash), h.path)) return refuse('not-claimed: this output is not in the worker\'s claimed root')
    st.checks++
    const t0 = c.clock.now()
    let ok: boolean, reason: string
    if (o.behaviour === 'colluding') { ok = true; reason = 'approved unseen' }
    else if (o.behaviour === 'accuse') { ok = false; reason = 'accused' }
    else {
      const check = () => checkOutput(input, output, h.profile as TranscodeProfile, { minPsnrDb: o.minPsnrDb })
      const v = await (c.external ? c.external(check) : check())
      ok = v.ok
      reason = v.ok ? 'ok' : `${v.reason}: ${v.detail}`.slice(0, 300)
    }
    st.workMs += c.clock.now() - t0
    const salt = bytesToHex(c.rng(32))
    const commitment = verdictCommitment({ jobId: h.jobId, batch: h.batch, unit: h.unit, outputHash, verdict: ok ? 'ok' : 'bad', salt, checker: me })
    await sendMessage(stream, checkReplyCodec, { type: 'commit', commitment })
    const rv = await readMessage(stream, checkCodec, { timeoutMs: 60_000 }).catch(() => undefined)
    if (!rv || rv.header.type !== 'reveal') return
    if (ok) {
      st.ok++
      await sendMessage(stream, checkReplyCodec, { type: 'ok', salt })
    } else {
      st.bad++
      const why = reason.split(':')[0]
      st.reasons[why] = (st.reasons[why] ?? 0) + 1
      const sig = await signVerdict(c.key, { chainId: c.chainId, verifyingContract: chain.address }, { jobId: h.jobId, batch: BigInt(h.batch), unit: BigInt(h.unit), output: outputHash })
      emit({ kind: 'verdict', jobId: h.jobId, batch: h.batch, unit: h.unit, verdict: 'bad', reason })
      await sendMessage(stream, checkReplyCodec, { type: 'bad', reason, output: outputHash, sig, salt })
    }
  })

  return {
    stats: () => ({ ...st, reasons: { ...st.reasons } }),
    async stop() { await transport.unhandle(COMPUTE_CHECK).catch(() => {}) },
  }
}
