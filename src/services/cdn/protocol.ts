/**
 * Wire messages of the CDN market (docs/cdn.md describes them message by message). Every message is size-capped
 * by its codec, then decoded, then validated by these schemas; bundles are re-validated with capnet's `parseBundle`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'
import { createBinaryCodec, createCodec, protocolId, DEFAULT_MAX_MESSAGE_BYTES, MAX_CONTROL_MESSAGE_BYTES } from '../../net/index.js'
import { PaymentTermsSchema, zAddress } from '../../payments/schemas.js'
import { OfferSchema as MarketOfferSchema } from '../../market/schema.js'

/** cache → publisher: join with an offer; publisher hires (or declines); cache accepts; later reports ready. */
export const CDN_JOIN = protocolId('cdn/join', 1)
/** cache → publisher: fetch the plaintext content it was hired to serve. */
export const CDN_CONTENT = protocolId('cdn/content', 1)
/** client → publisher: ask for a bundle (or a repaired slot). */
export const CDN_REQUEST = protocolId('cdn/request', 1)
/** client → cache: get a chunk, send the payment message, get the outer key, hand over the proof. */
export const CDN_FETCH = protocolId('cdn/fetch', 1)
/** cache → publisher: claim payment for a chunk with the puzzle secret (sponsor-pays exchange). */
export const CDN_CLAIM = protocolId('cdn/claim', 1)
/** Adversarial only: a colluding cache shares its secrets with its client (used by the attack scenario). */
export const CDN_COLLUDE = protocolId('cdn/collude', 1)

/** Bundle responses carry up to 64 entries with Merkle proofs: well under this. */
export const CDN_MAX_BUNDLE_MESSAGE_BYTES = 256 * 1024

const bytes = (len?: number) =>
  z.custom<Uint8Array>((v) => v instanceof Uint8Array && (len === undefined || v.length === len), { error: len ? `expected ${len} bytes` : 'expected bytes' })
const contentId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lowercase id of 1..64 chars')
const peerAddrs = z.array(z.string().max(512)).max(16)


export const ManifestSchema = z.object({
  merkleRoot: bytes(32),
  contentLength: z.number().int().min(0),
  chunkSize: z.number().int().min(1).max(1024 * 1024),
  chunkCount: z.number().int().min(1),
})

export const JoinMessageSchema = z.discriminatedUnion('type', [
  /** The cache's signed market offer (`src/market`): checked by the publisher's market checker. */
  z.object({ type: z.literal('join'), offer: MarketOfferSchema }),
  z.object({ type: z.literal('accept'), terms: PaymentTermsSchema }),
  z.object({ type: z.literal('decline'), reason: z.string().max(200) }),
  z.object({ type: z.literal('ready'), contentId, merkleRoot: bytes(32) }),
])
export const JoinReplySchema = z.discriminatedUnion('type', [
  /** Sent once the publisher and the cache have confirmed a deal by negotiation (`/souk/market/negotiate/1`): `deal`
   * is the deal's EIP-712 hash, `pricePerChunk` its price. */
  z.object({ type: z.literal('hire'), contentId, manifest: ManifestSchema, pricePerChunk: z.bigint().nonnegative(), cacheSecret: bytes(32), publisherPayer: zAddress, deal: z.string().regex(/^0x[0-9a-f]{64}$/) }),
  z.object({ type: z.literal('decline'), reason: z.string().max(200) }),
  z.object({ type: z.literal('ready-ack') }),
])
export const joinCodec = createCodec(JoinMessageSchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: CDN_JOIN })
export const joinReplyCodec = createCodec(JoinReplySchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: CDN_JOIN })

export const ContentRequestSchema = z.object({ contentId, from: z.number().int().min(0), to: z.number().int().min(0) })
export const contentRequestCodec = createCodec(ContentRequestSchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: CDN_CONTENT })
export const contentChunkCodec = createBinaryCodec(z.object({ index: z.number().int().min(0) }), { maxBytes: DEFAULT_MAX_MESSAGE_BYTES, name: CDN_CONTENT })

/** The publisher's payment order for one slot: the "payment message" a client forwards to a cache. */
export const PayOrderSchema = z.object({
  requestId: bytes(),
  chunkIndex: z.number().int().min(0),
  cacheId: z.string().min(1).max(256),
  pricePerChunk: z.bigint().nonnegative(),
  commitment: bytes(32),
  expiresAtMs: z.number().int().min(0),
  mac: bytes(32),
})
export type PayOrder = z.infer<typeof PayOrderSchema>

export const CacheRefSchema = z.object({ cacheId: z.string().min(1).max(256), addresses: peerAddrs })

export const RequestMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('bundle'), contentId, firstChunk: z.number().int().min(0), avoid: z.array(z.string().max(256)).max(64).default([]),
    /** Secrets of bundles this client solved since its last request: closes them at the publisher. */
    solved: z.array(z.object({ requestId: bytes(), secret: bytes(32) })).max(8).default([]),
  }),
  z.object({ type: z.literal('repair'), requestId: bytes(), slot: z.number().int().min(0), avoid: z.array(z.string().max(256)).max(64), reason: z.string().max(200) }),
])
export const RequestReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('bundle'), bundle: z.unknown(), caches: z.array(CacheRefSchema).max(64), orders: z.array(PayOrderSchema).max(64), innerDigests: z.array(bytes(32)).max(64) }),
  z.object({ type: z.literal('repair'), slot: z.number().int().min(0), cacheTicket: bytes(), cache: CacheRefSchema, order: PayOrderSchema }),
  z.object({ type: z.literal('refuse'), reason: z.string().max(200) }),
])
export const requestCodec = createCodec(RequestMessageSchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: CDN_REQUEST })
export const requestReplyCodec = createCodec(RequestReplySchema, { maxBytes: CDN_MAX_BUNDLE_MESSAGE_BYTES, name: CDN_REQUEST })

export const FetchMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('get'), contentId, requestId: bytes(), chunkIndex: z.number().int().min(0), cacheTicket: bytes() }),
  z.object({ type: z.literal('pay'), order: PayOrderSchema }),
  z.object({ type: z.literal('proof'), secret: bytes(32) }),
])
export const FetchReplySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('chunk'), chunkIndex: z.number().int().min(0) }),
  z.object({ type: z.literal('key'), outerKey: bytes(32) }),
  z.object({ type: z.literal('ack'), accepted: z.boolean(), reason: z.string().max(200).optional() }),
  z.object({ type: z.literal('refuse'), reason: z.string().max(200) }),
])
export const fetchCodec = createCodec(FetchMessageSchema, { maxBytes: MAX_CONTROL_MESSAGE_BYTES, name: CDN_FETCH })
export const fetchReplyCodec = createBinaryCodec(FetchReplySchema, { maxBytes: DEFAULT_MAX_MESSAGE_BYTES, name: CDN_FETCH })

/** The proof a cache sends with a claim: which slot it served, and the puzzle secret (absent: a late claim). */
export const ClaimProofSchema = z.object({ requestId: bytes(), chunkIndex: z.number().int().min(0), secret: bytes(32).optional() })
export type ClaimProof = z.infer<typeof ClaimProofSchema>

/**
 * The colluders' side channel (adversarial modes only, docs/cdn.md#adversaries): a partner client asks a colluding
 * cache for its chunk and secret (the pair's own link: no chunk is served over `/souk/cdn/fetch/1`); with `claim`
 * (the client solved the bundle, from the honest caches' chunks and the colluders' own, or — `captured`, Sybil caches:
 * every slot was the operator's — from the colluders' chunks alone) it hands the cache the secret to claim its slot
 * without serving. The reply's `paid` says whether that claim was paid.
 */
export const CollideReplySchema = z.object({ cacheSecret: bytes(32), contentId, chunk: bytes(), paid: z.boolean().optional() })
export const collideCodec = createCodec(z.object({
  contentId, chunkIndex: z.number().int().min(0), requestId: bytes().optional(), claim: z.object({ requestId: bytes(), secret: bytes(32), captured: z.boolean().optional() }).optional(),
}), { maxBytes: 1024, name: CDN_COLLUDE })
export const collideReplyCodec = createCodec(CollideReplySchema, { maxBytes: DEFAULT_MAX_MESSAGE_BYTES, name: CDN_COLLUDE })

/** A partner option as a list: one peer id, a list, or a comma-separated list (`souk node --partner a,b`). */
export function partnerList(p: string | readonly string[] | undefined): string[] {
  if (p === undefined) return []
  return (typeof p === 'string' ? p.split(',') : [...p]).map((x) => x.trim()).filter((x) => x.length > 0)
}

const ORDER_LABEL = Buffer.from('souk/cdn/pay-order/v1')

/** MAC of a payment order under the cache's secret: only the publisher (and that cache) can make one. */
export function payOrderMac(cacheSecret: Uint8Array, o: Omit<PayOrder, 'mac'>): Uint8Array {
  const h = createHmac('sha256', cacheSecret)
  h.update(ORDER_LABEL)
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }
  h.update(u32(o.requestId.length)); h.update(o.requestId)
  h.update(u32(o.chunkIndex))
  const id = Buffer.from(o.cacheId); h.update(u32(id.length)); h.update(id)
  const price = Buffer.from(o.pricePerChunk.toString(16)); h.update(u32(price.length)); h.update(price)
  h.update(o.commitment)
  h.update(Buffer.from(String(o.expiresAtMs)))
  return new Uint8Array(h.digest())
}

/** Checks a payment order's MAC in constant time; never throws. */
export function verifyPayOrder(cacheSecret: Uint8Array, o: PayOrder): boolean {
  try {
    const m = payOrderMac(cacheSecret, o)
    return m.length === o.mac.length && timingSafeEqual(m, o.mac)
  } catch {
    return false
  }
}

export const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
