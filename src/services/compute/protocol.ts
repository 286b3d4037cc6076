/**
 * Wire messages of the compute market (docs/compute.md § Protocol). Every message is size-capped by its codec, then
 * validated by these schemas. A unit's input or output may exceed one transport frame (1 MiB), so it travels in
 * parts of at most {@link COMPUTE_PART_BYTES}, each part its own frame, reassembled and size-checked by the receiver.
 *
 * ```
 * job     client → worker    get-offer {}                                worker → client   offer { offer (signed market Offer) }
 *         client → worker    propose { ask, deal, buyerSig, terms, profile }
 *                                                                        worker → client   accept { serverSig } | refuse { reason }
 * work    client → worker    open { jobId }                              worker → client   ready { next } | refuse { reason }
 *         client → worker    input { unit, part, parts } + body          (all parts of a unit, then)
 *                                                                        worker → client   output { unit, part, parts, outputHash } + body
 *         client → worker    claim { first, count }                      worker → client   claimed { batch, root, tx } | refuse { reason }
 * check   client → verifier  check { jobId, batch, index, unit, inputBytes, outputBytes, path, profile } + body (input ‖ output, in parts)
 *                                                                        verifier → client commit { commitment } | refuse { reason }
 *         client → verifier  reveal {}                                  verifier → client ok { salt } | bad { reason, output, sig, salt }
 * ```
 * A checker commits to its verdict before any verdict is revealed (commit-reveal among replicated checkers), so
 * one checker cannot copy another's: the commitment binds the verdict, a salt and the checker's own address.
 * The worker posts the batch's work claim (a Merkle root over (unit, inputHash, outputHash)) only when the client
 * asks, after every output of the batch was delivered; the client rebuilds the root from what it sent and received
 * and compares. The verifier re-executes a challenged unit and signs a `Verdict` when the output fails its checks.
 */
import { z } from 'zod'
import { createBinaryCodec, createCodec, protocolId, MAX_CONTROL_MESSAGE_BYTES } from '../../net/index.js'
import { zAddress, zSig } from '../../payments/schemas.js'
import { AskSchema, DealBodySchema, OfferSchema } from '../../market/schema.js'
import { TranscodeProfileSchema } from './transcode.js'

export const COMPUTE_JOB = protocolId('compute/job', 1)
export const COMPUTE_WORK = protocolId('compute/work', 1)
export const COMPUTE_CHECK = protocolId('compute/check', 1)

/** The largest body of one part of a unit's input or output. */
export const COMPUTE_PART_BYTES = 1024 * 1024 - 4096
/** The largest input or output of one unit (reassembled). */
export const COMPUTE_MAX_UNIT_BYTES = 64 * 1024 * 1024

const hex = (bytes: number) => z.string().regex(new RegExp(`^0x[0-9a-f]{${bytes * 2}}$`), `${bytes} bytes as lowercase 0x-hex`) as unknown as z.ZodType<`0x${string}`>
const u = (max: number) => z.number().int().min(0).max(max)
const amount = z.bigint().nonnegative().max((1n << 256n) - 1n)
const parts = u(Math.ceil(COMPUTE_MAX_UNIT_BYTES / COMPUTE_PART_BYTES)).min(1)

/** The compute terms of a job, field for field `WorkMarket.ComputeTerms`. */
export const ComputeTermsSchema = z.object({
  token: zAddress,
  checkers: z.array(zAddress).min(1).max(16),
  quorum: u(16).min(1),
  units: u(2 ** 32 - 1).min(1),
  maxBatch: u(2 ** 20).min(1),
  pricePerUnit: amount,
  stake: amount,
  slash: amount,
  checksPerBatch: u(2 ** 16 - 1).min(1),
  finderBps: u(10_000),
  challengeDelay: u(2 ** 32 - 1).min(1),
  disputeWindow: u(2 ** 32 - 1).min(1),
  responseWindow: u(2 ** 32 - 1).min(1),
  claimWithinBlocks: u(2 ** 32 - 1).min(1),
  profile: hex(32),
}).refine((t) => t.quorum <= t.checkers.length, { message: 'quorum is larger than the number of checkers', path: ['quorum'] })
export type ComputeTerms = z.infer<typeof ComputeTermsSchema>

const JobMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('get-offer') }),
  z.object({ type: z.literal('propose'), ask: AskSchema, deal: DealBodySchema, buyerSig: zSig, terms: ComputeTermsSchema, profile: TranscodeProfileSchema }),
])
const JobReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('offer'), offer: OfferSchema }),
  z.object({ type: z.literal('accept'), serverSig: zSig }),
  z.object({ type: z.literal('refuse'), reason: z.string().max(300) }),
])
export const jobCodec = createCodec(JobMessageSchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: 'compute/job' })
export const jobReplyCodec = createCodec(JobReplySchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: 'compute/job-reply' })

const WorkHeaderSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('open'), jobId: hex(32) }),
  z.object({ type: z.literal('input'), unit: u(2 ** 32 - 1), part: u(4096), parts }),
  z.object({ type: z.literal('claim'), first: u(2 ** 32 - 1), count: u(2 ** 20).min(1) }),
])
const WorkReplyHeaderSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), next: u(2 ** 32 - 1) }),
  z.object({ type: z.literal('output'), unit: u(2 ** 32 - 1), part: u(4096), parts, outputHash: hex(32) }),
  z.object({ type: z.literal('claimed'), batch: u(2 ** 32 - 1), root: hex(32), tx: hex(32) }),
  z.object({ type: z.literal('refuse'), reason: z.string().max(300) }),
])
export const workCodec = createBinaryCodec(WorkHeaderSchema, { maxBytes: COMPUTE_PART_BYTES + 4096, name: 'compute/work' })
export const workReplyCodec = createBinaryCodec(WorkReplyHeaderSchema, { maxBytes: COMPUTE_PART_BYTES + 4096, name: 'compute/work-reply' })

const CheckHeaderSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('check'), jobId: hex(32), batch: u(2 ** 32 - 1), index: u(2 ** 16 - 1), unit: u(2 ** 32 - 1),
    inputBytes: u(COMPUTE_MAX_UNIT_BYTES), outputBytes: u(COMPUTE_MAX_UNIT_BYTES), path: z.array(hex(32)).max(20), profile: TranscodeProfileSchema, part: u(4096), parts: u(256).min(1),
  }),
  z.object({ type: z.literal('part'), part: u(4096), parts: u(256).min(1) }),
  z.object({ type: z.literal('reveal') }),
])
const CheckReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('commit'), commitment: hex(32) }),
  z.object({ type: z.literal('ok'), salt: hex(32) }),
  z.object({ type: z.literal('bad'), reason: z.string().max(300), output: hex(32), sig: zSig, salt: hex(32) }),
  z.object({ type: z.literal('refuse'), reason: z.string().max(300) }),
])
export const checkCodec = createBinaryCodec(CheckHeaderSchema, { maxBytes: COMPUTE_PART_BYTES + 8192, name: 'compute/check' })
export const checkReplyCodec = createCodec(CheckReplySchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: 'compute/check-reply' })

/** `bytes` cut into parts of at most {@link COMPUTE_PART_BYTES} (at least one, possibly empty). */
export function splitParts(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let o = 0; o < bytes.length; o += COMPUTE_PART_BYTES) out.push(bytes.subarray(o, Math.min(bytes.length, o + COMPUTE_PART_BYTES)))
  return out.length ? out : [new Uint8Array(0)]
}

/** Concatenates received parts. */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}
