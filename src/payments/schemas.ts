/**
 * zod schemas for every payment wire type: terms payee → payer and payments payer → payee. Validation at the
 * trust boundary: size caps are enforced by the net codec first, then these schemas, then the scheme's checks.
 */
import { z } from 'zod'
import type { Address, Hex } from 'viem'
import { schemeEnum } from './schemes.js'

export const zAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'an 0x-prefixed 20-byte address').transform((s) => s.toLowerCase() as Address)
export const zHex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'an 0x-prefixed 32-byte hex string').transform((s) => s.toLowerCase() as Hex)
export const zSig = z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'a 65-byte signature r‖s‖v in hex').transform((s) => s.toLowerCase() as Hex)
export const zUint = z.bigint().nonnegative()
/** A scheme name from the list in schemes.ts (lazy: the scheme modules import this file). */
export const zScheme = z.lazy(() => schemeEnum())

export const PaymentTermsSchema = z.object({
  scheme: zScheme,
  chainId: z.number().int().positive(),
  contract: zAddress,
  payee: zAddress,
  pricePerChunk: zUint,
  params: z.record(z.string(), z.unknown()),
})

export const PaymentSchema = z.object({
  scheme: zScheme,
  payer: zAddress,
  payee: zAddress,
  amount: zUint,
  body: z.record(z.string(), z.unknown()),
})

/** Most tickets one lottery payment message may carry. */
export const MAX_TICKETS_PER_PAYMENT = 64

export const LotteryParamsSchema = z.object({
  faceValue: z.bigint().positive(),
  winProb: z.bigint().positive(),
  recipientRandHash: zHex32,
  expirationBlock: zUint,
  acceptUntilBlock: zUint,
  nextNonce: zUint,
})
export type LotteryParams = z.infer<typeof LotteryParamsSchema>

export const LotteryBodySchema = z.object({
  faceValue: z.bigint().positive(),
  winProb: z.bigint().positive(),
  recipientRandHash: zHex32,
  expirationBlock: zUint,
  tickets: z.array(z.object({ nonce: zUint, sig: zSig })).min(1).max(MAX_TICKETS_PER_PAYMENT),
})
export type LotteryBody = z.infer<typeof LotteryBodySchema>

export const ChannelParamsSchema = z.object({
  settleDelayBlocks: z.number().int().nonnegative(),
  /** The deposit the payee asks a new channel to hold at least. */
  minDeposit: zUint,
  /** An already open channel from this payer the payee knows of (resume), if any. */
  channelId: zHex32.optional(),
  cumulative: zUint.optional(),
})
export type ChannelParams = z.infer<typeof ChannelParamsSchema>

export const ChannelBodySchema = z.object({
  channelId: zHex32,
  cumulativeAmount: zUint,
  sig: zSig,
})
export type ChannelBody = z.infer<typeof ChannelBodySchema>

/** A whole lottery payment in one schema (one parse on the payee's hot path). */
export const LotteryPaymentSchema = z.object({
  scheme: z.literal('lottery'),
  payer: zAddress,
  payee: zAddress,
  amount: zUint,
  body: LotteryBodySchema,
})
export type LotteryPayment = z.infer<typeof LotteryPaymentSchema>

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/
const HEX32_RE = /^0x[0-9a-fA-F]{64}$/
const SIG_RE = /^0x[0-9a-fA-F]{130}$/
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * `LotteryPaymentSchema.safeParse` without zod on the payee's hot path: the same rules written out by hand (~10x
 * faster), the same output (lower-cased hex, unknown keys dropped). Returns undefined for anything it does not accept;
 * the caller then runs the zod schema for the error message (a test holds the two to the same verdicts and output).
 */
export function parseLotteryPayment(raw: unknown): LotteryPayment | undefined {
  if (!isPlainObject(raw) || raw.scheme !== 'lottery') return undefined
  const { payer, payee, amount, body } = raw
  if (typeof payer !== 'string' || !ADDRESS_RE.test(payer) || typeof payee !== 'string' || !ADDRESS_RE.test(payee)) return undefined
  if (typeof amount !== 'bigint' || amount < 0n || !isPlainObject(body)) return undefined
  const { faceValue, winProb, recipientRandHash, expirationBlock, tickets } = body
  if (typeof faceValue !== 'bigint' || faceValue <= 0n || typeof winProb !== 'bigint' || winProb <= 0n) return undefined
  if (typeof recipientRandHash !== 'string' || !HEX32_RE.test(recipientRandHash) || typeof expirationBlock !== 'bigint' || expirationBlock < 0n) return undefined
  if (!Array.isArray(tickets) || tickets.length < 1 || tickets.length > MAX_TICKETS_PER_PAYMENT) return undefined
  const out: { nonce: bigint; sig: Hex }[] = new Array(tickets.length)
  for (let i = 0; i < tickets.length; i++) {
    const t: unknown = tickets[i]
    if (!isPlainObject(t)) return undefined
    const { nonce, sig } = t
    if (typeof nonce !== 'bigint' || nonce < 0n || typeof sig !== 'string' || !SIG_RE.test(sig)) return undefined
    out[i] = { nonce, sig: sig.toLowerCase() as Hex }
  }
  return {
    scheme: 'lottery', payer: payer.toLowerCase() as Address, payee: payee.toLowerCase() as Address, amount,
    body: { faceValue, winProb, recipientRandHash: recipientRandHash.toLowerCase() as Hex, expirationBlock, tickets: out },
  }
}
