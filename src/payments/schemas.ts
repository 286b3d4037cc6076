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
