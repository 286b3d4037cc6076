/**
 * Wire messages of the storage market (docs/storage.md § Protocol). Every message is size-capped by its codec, then
 * validated by these schemas.
 *
 * ```
 * deal      client → provider   offer? {}                          provider → client  offer { offer (signed market Offer) }
 *           client → provider   propose { deal, buyerSig, terms }  provider → client  accept { serverSig } | refuse { reason }
 * upload    client → provider   open { dealId, payer }             provider → client  terms { terms (its payee's, per chunk) }
 *           client → provider   chunk { index, proof, payment } + body                provider → client  ack { index, receipt } | refuse
 *           client → provider   done {}                            provider → client  stored { activated: tx hash }
 * retrieve  the generic client-pays exchange (src/exchange) on STORAGE_RETRIEVE: request { dealId }, each chunk's
 *           header carries its Merkle multi-proof against the deal's data root; the client pays a chunk once verified.
 * ```
 * A chunk is `chunkSize` bytes (a multiple of 32): its leaves are proven together with one multi-proof.
 */
import { z } from 'zod'
import { createBinaryCodec, createCodec, protocolId, MAX_CONTROL_MESSAGE_BYTES } from '../../net/index.js'
import { PaymentSchema, PaymentTermsSchema, zAddress, zSig } from '../../payments/schemas.js'
import { ReceiptSchema as PaymentReceiptSchema } from '../../exchange/protocol.js'
import { AskSchema, DealBodySchema, OfferSchema } from '../../market/schema.js'

export const STORAGE_DEAL = protocolId('storage/deal', 1)
export const STORAGE_UPLOAD = protocolId('storage/upload', 1)
export const STORAGE_RETRIEVE = protocolId('storage/retrieve', 1)

const hex = (bytes: number) => z.string().regex(new RegExp(`^0x[0-9a-f]{${bytes * 2}}$`), `${bytes} bytes as lowercase 0x-hex`) as unknown as z.ZodType<`0x${string}`>
const u = (max: number) => z.number().int().min(0).max(max)
const amount = z.bigint().nonnegative().max((1n << 256n) - 1n)

/** The storage terms of a deal, field for field `StorageMarket.StorageTerms`. */
export const StorageTermsSchema = z.object({
  root: hex(20),
  dataRoot: hex(20),
  salt: hex(32),
  leavesPerReplica: z.bigint().min(1n).max(1n << 40n),
  replicas: u(64).min(1),
  challenges: u(64).min(1),
  periodBlocks: u(2 ** 32 - 1).min(1),
  windowBlocks: u(256).min(1),
  periods: u(2 ** 32 - 1).min(1),
  activateWithinBlocks: u(2 ** 32 - 1).min(1),
  pricePerPeriod: amount,
  collateral: amount,
})
export type StorageTerms = z.infer<typeof StorageTermsSchema>

const DealMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('get-offer') }),
  z.object({ type: z.literal('propose'), ask: AskSchema, deal: DealBodySchema, buyerSig: zSig, terms: StorageTermsSchema, bytes: u(2 ** 40) }),
])
const DealReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('offer'), offer: OfferSchema }),
  z.object({ type: z.literal('accept'), serverSig: zSig }),
  z.object({ type: z.literal('refuse'), reason: z.string().max(300) }),
])
export const dealCodec = createCodec(DealMessageSchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: 'storage/deal' })
export const dealReplyCodec = createCodec(DealReplySchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: 'storage/deal-reply' })

/** Packed 20-byte siblings of a chunk's multi-proof, as hex (a depth-40 tree and 1 KiB chunks need < 1 KB). */
const proofHex = z.string().regex(/^0x([0-9a-f]{40})*$/).max(2 + 40 * 64 * 40) as unknown as z.ZodType<`0x${string}`>

const UploadHeaderSchema = z.discriminatedUnion('type', [
    z.object({ type: z.literal('open'), dealId: hex(32), payer: zAddress }),
    z.object({ type: z.literal('chunk'), index: u(2 ** 40), proof: proofHex, payment: PaymentSchema.optional() }),
    z.object({ type: z.literal('done'), payment: PaymentSchema.optional() }),
])
const UploadReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('terms'), terms: PaymentTermsSchema.optional(), chunkCount: u(2 ** 40) }),
  z.object({ type: z.literal('ack'), index: u(2 ** 40), receipt: PaymentReceiptSchema.optional() }),
  z.object({ type: z.literal('stored'), activated: hex(32), receipt: PaymentReceiptSchema.optional() }),
  z.object({ type: z.literal('refuse'), reason: z.string().max(300) }),
])
/** Upload chunks are at most 64 KiB. */
export const STORAGE_MAX_CHUNK_BYTES = 64 * 1024
export const uploadCodec = createBinaryCodec(UploadHeaderSchema, { maxBytes: STORAGE_MAX_CHUNK_BYTES + 64 * 1024, name: 'storage/upload' })
export const uploadReplyCodec = createCodec(UploadReplySchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: 'storage/upload-reply' })

export const RetrieveRequestSchema = z.object({ dealId: hex(32) })
