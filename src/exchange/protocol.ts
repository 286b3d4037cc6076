/**
 * Wire messages of the exchange protocol (docs/exchange.md). Client → server messages are JSON; server → client
 * messages are binary frames (JSON header, raw body) so chunks travel without base64.
 */
import { z } from 'zod'
import { createBinaryCodec, createCodec, MAX_CONTROL_MESSAGE_BYTES, DEFAULT_MAX_MESSAGE_BYTES, protocolId } from '../net/index.js'
import { PaymentSchema, PaymentTermsSchema, zAddress } from '../payments/schemas.js'

/** Default protocol id of a client-pays exchange when the service does not pick its own. */
export const EXCHANGE_PROTOCOL = protocolId('exchange', 1)
/** Default protocol id on which a sponsor takes claims from servers. */
export const SPONSOR_CLAIM_PROTOCOL = protocolId('exchange/claim', 1)

/** How long a side waits for the other's next message before giving up on the session. */
export const EXCHANGE_IDLE_TIMEOUT_MS = 30_000

export const ReceiptSchema = z.object({
  credited: z.bigint().nonnegative(),
  winning: z.boolean(),
  terms: PaymentTermsSchema.optional(),
})

/** Client → server. */
export const ClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('open'), payer: zAddress.optional(), request: z.unknown() }),
  z.object({ type: z.literal('next'), index: z.number().int().min(0), payment: PaymentSchema.optional() }),
  z.object({ type: z.literal('done'), payment: PaymentSchema.optional() }),
])
export type ClientMessage = z.infer<typeof ClientMessageSchema>

/** Server → client headers (binary frames; only `chunk` carries a body). */
export const ServerHeaderSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('terms'), chunkCount: z.number().int().min(0), terms: PaymentTermsSchema.optional() }),
  z.object({ type: z.literal('chunk'), index: z.number().int().min(0), receipt: ReceiptSchema.optional(), meta: z.record(z.string(), z.unknown()).optional() }),
  z.object({ type: z.literal('refuse'), reason: z.string().max(200), atChunk: z.number().int().min(0) }),
  z.object({ type: z.literal('done'), receipt: ReceiptSchema.optional() }),
])
export type ServerHeader = z.infer<typeof ServerHeaderSchema>

export const clientCodec = createCodec(ClientMessageSchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: 'exchange/client' })
export const serverCodec = createBinaryCodec(ServerHeaderSchema, { maxBytes: DEFAULT_MAX_MESSAGE_BYTES, name: 'exchange/server' })

/** Server → sponsor, then sponsor → server, then server → sponsor (the receipt). */
export const ClaimMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('claim'), id: z.string().min(1).max(256), proof: z.unknown() }),
  z.object({ type: z.literal('receipt'), receipt: ReceiptSchema.optional(), error: z.string().max(500).optional() }),
])
export const ClaimReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('paid'), payment: PaymentSchema }),
  z.object({ type: z.literal('rejected'), reason: z.string().max(500) }),
])
export const claimCodec = createCodec(ClaimMessageSchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: 'exchange/claim' })
export const claimReplyCodec = createCodec(ClaimReplySchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: 'exchange/claim-reply' })
