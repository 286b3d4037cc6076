/**
 * The lottery payer (ticket sender): signs tickets under the payee's published parameters, one ticket per chunk
 * price, with strictly increasing nonces per (payee, lane). The payee names the lane (the nonce's high 128 bits) in
 * its terms; each session it opens has its own.
 *
 * @example
 * ```ts
 * import { createLotteryPayer } from './payer.js'
 * const payer = await createLotteryPayer({ chain, deployment, key: payerKey })
 * const session = await payer.open(terms)       // terms from the payee
 * const payment = await session.pay(terms.pricePerChunk)
 * ```
 */
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { Chain } from '../../chain/types.js'
import type { SoukDeployment } from '../deploy.js'
import { bytesToHex } from '../../crypto/bytes.js'
import { PaymentError } from '../errors.js'
import { LotteryParamsSchema, PaymentTermsSchema, type LotteryParams } from '../schemas.js'
import type { PayerSide, PayerSession, Payment, PaymentTerms } from '../types.js'
import { ticketDomain, ticketHasher } from './ticket.js'
import { signDigest } from '../../crypto/secp256k1.js'
import { hexToBytes } from '../../crypto/bytes.js'

export interface LotteryPayerContext {
  chain: Chain
  deployment: SoukDeployment
  key: Hex
}

export async function createLotteryPayer(ctx: LotteryPayerContext): Promise<PayerSide> {
  const me = privateKeyToAddress(ctx.key).toLowerCase() as Address
  const broker = ctx.deployment.contracts.lottery.ticketBroker.toLowerCase() as Address
  const domain = ticketDomain(ctx.chain.chainId, broker)
  const keyBytes = hexToBytes(ctx.key)
  // Highest nonce used per (payee, lane) across sessions of this payer (in memory; the payee names a fresh lane per session).
  const lastNonce = new Map<string, bigint>()
  const laneKey = (payee: Address, p: LotteryParams) => `${payee}|${p.nextNonce >> 128n}`

  function checkTerms(raw: PaymentTerms): { terms: PaymentTerms; params: LotteryParams } {
    const t = PaymentTermsSchema.safeParse(raw)
    if (!t.success) throw new PaymentError('Malformed lottery terms', { details: { issues: t.error.issues } })
    const terms = t.data as PaymentTerms
    if (terms.scheme !== 'lottery') throw new PaymentError(`Terms are for ${terms.scheme}, not lottery`)
    if (terms.chainId !== ctx.chain.chainId) throw new PaymentError(`Terms are for chain ${terms.chainId}, this payer is on ${ctx.chain.chainId}`, { hints: ['Both sides must settle on the same chain.'] })
    if (terms.contract !== broker) throw new PaymentError(`Terms name broker ${terms.contract}, this payer uses ${broker}`)
    const p = LotteryParamsSchema.safeParse(terms.params)
    if (!p.success) throw new PaymentError('Malformed lottery parameters', { details: { issues: p.error.issues } })
    return { terms, params: p.data }
  }

  return {
    scheme: 'lottery',
    address: me,
    async open(rawTerms) {
      let { terms, params } = checkTerms(rawTerms)
      const payee = terms.payee
      const mkHasher = () => ticketHasher(domain, { recipient: payee, sender: me, faceValue: params.faceValue, winProb: params.winProb, recipientRandHash: params.recipientRandHash, expirationBlock: params.expirationBlock })
      let hasher = mkHasher()
      let paid = 0n
      const session: PayerSession = {
        payee,
        get terms() { return terms },
        async pay(amount) {
          if (amount <= 0n || amount % terms.pricePerChunk !== 0n) {
            throw new PaymentError(`Amount ${amount} is not a whole number of chunks at ${terms.pricePerChunk}`)
          }
          const n = Number(amount / terms.pricePerChunk)
          const lk = laneKey(payee, params)
          let nonce = lastNonce.get(lk) ?? -1n
          if (nonce < params.nextNonce - 1n) nonce = params.nextNonce - 1n
          const tickets: { nonce: bigint; sig: Hex }[] = []
          for (let i = 0; i < n; i++) {
            nonce += 1n
            const sig = signDigest(hasher(nonce), keyBytes)
            tickets.push({ nonce, sig: bytesToHex(sig) })
          }
          lastNonce.set(lk, nonce)
          paid += amount
          const payment: Payment = {
            scheme: 'lottery', payer: me, payee, amount,
            body: { faceValue: params.faceValue, winProb: params.winProb, recipientRandHash: params.recipientRandHash, expirationBlock: params.expirationBlock, tickets },
          }
          return payment
        },
        update(next) {
          const c = checkTerms(next)
          if (c.terms.payee !== payee) throw new PaymentError('New terms name another payee')
          terms = c.terms
          params = c.params
          hasher = mkHasher()
        },
        paid: () => paid,
        async close() {},
      }
      return session
    },
    async close() {},
  }
}
