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
import { MAX_WIN_PROB, randHash, ticketDomain, ticketHasher } from './ticket.js'
import { write } from '../../chain/tx.js'
import { ContractRevertError } from '../../chain/errors.js'
import { TicketBrokerAbi } from '../../../artifacts/contracts.js'
import { signDigest } from '../../crypto/secp256k1.js'
import { hexToBytes } from '../../crypto/bytes.js'

export interface LotteryPayerContext {
  chain: Chain
  deployment: SoukDeployment
  key: Hex
  /**
   * UNSAFE, for simulations only: makes this payer a cheating sender (the simulator's `void-tickets` publisher,
   * docs/cdn.md#adversaries). Nothing in a node's configuration sets it; never set it on a real network.
   */
  unsafeAdversary?: LotteryPayerAdversary
}

/** One attempt of a cheating sender to void a recipient's winners (`LotteryPayerAdversary.onAttack`). */
export interface VoidTicketsAttempt {
  what: 'void-tickets'
  /**
   * `recipient-lane`: a ticket to the payee in its lane at the lane's last nonce, under a rand of the sender's own
   * (face 0, always winning), redeemed by the sender before the payee redeems anything in that lane — had it been
   * accepted, every winner of the lane would be spent (`TicketBrokerNonceUsed`). `self`: the same nonce on a ticket
   * to the sender itself, once per lane (mined: it touches only the sender's own lanes).
   */
  variant: 'recipient-lane' | 'self'
  payee: Address
  lane: bigint
  nonce: bigint
  /** `mined`, or the broker's custom error (`TicketBrokerNotRecipient`) / the failure's first line. */
  outcome: string
}

/** A cheating sender's moves (`LotteryPayerContext.unsafeAdversary`). */
export interface LotteryPayerAdversary {
  /**
   * Before the first payment in each lane a payee names, and again after each rand rotation (the payee won: it has a
   * winner to redeem), sign and redeem the two voiding tickets of {@link VoidTicketsAttempt}; each is a transaction
   * mined before the payment it precedes is handed over.
   */
  voidTickets?: boolean
  onAttack?(e: VoidTicketsAttempt): void
}

/** Gas sent with a voiding attempt so it is mined (and reverts on chain) rather than refused at estimation. */
const VOID_ATTEMPT_GAS = 300_000n

export async function createLotteryPayer(ctx: LotteryPayerContext): Promise<PayerSide> {
  const me = privateKeyToAddress(ctx.key).toLowerCase() as Address
  const broker = ctx.deployment.contracts.lottery.ticketBroker.toLowerCase() as Address
  const domain = ticketDomain(ctx.chain.chainId, broker)
  const keyBytes = hexToBytes(ctx.key)
  // Highest nonce used per (payee, lane) across sessions of this payer (in memory; the payee names a fresh lane per session).
  const lastNonce = new Map<string, bigint>()
  const laneKey = (payee: Address, p: LotteryParams) => `${payee}|${p.nextNonce >> 128n}`
  const adversary = ctx.unsafeAdversary
  const selfVoided = new Set<string>()

  /** `voidTickets`: a self-signed ticket at the lane's last nonce, redeemed by us (see VoidTicketsAttempt). */
  async function tryToVoid(variant: VoidTicketsAttempt['variant'], payee: Address, p: LotteryParams): Promise<void> {
    const lane = p.nextNonce >> 128n
    const nonce = (lane << 128n) | ((1n << 128n) - 1n)
    const ownRand = nonce // any rand of ours: we sign under its hash, so the ticket always wins for us
    const ticket = { recipient: variant === 'self' ? me : payee, sender: me, faceValue: 0n, winProb: MAX_WIN_PROB, recipientRandHash: randHash(ownRand), expirationBlock: p.expirationBlock }
    const sig = signDigest(ticketHasher(domain, ticket)(nonce), keyBytes)
    let outcome = 'mined'
    try {
      await write(ctx.chain, ctx.chain.wallet(ctx.key), {
        address: broker, abi: TicketBrokerAbi, functionName: 'redeemWinningTicket', gas: VOID_ATTEMPT_GAS,
        args: [{ ticket: { ...ticket, senderNonce: nonce }, r: bytesToHex(sig.subarray(0, 32)), s: bytesToHex(sig.subarray(32, 64)), v: sig[64], recipientRand: ownRand }],
      })
    } catch (e) {
      outcome = e instanceof ContractRevertError ? e.errorName : (e as Error).message.split('\n')[0]
    }
    adversary?.onAttack?.({ what: 'void-tickets', variant, payee, lane, nonce, outcome })
  }

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
      /** voidTickets: the lane (and rand) last attacked. */
      let attacked: string | undefined
      const session: PayerSession = {
        payee,
        get terms() { return terms },
        async pay(amount) {
          if (amount <= 0n || amount % terms.pricePerChunk !== 0n) {
            throw new PaymentError(`Amount ${amount} is not a whole number of chunks at ${terms.pricePerChunk}`)
          }
          const n = Number(amount / terms.pricePerChunk)
          if (adversary?.voidTickets && attacked !== `${laneKey(payee, params)}|${params.recipientRandHash}`) {
            attacked = `${laneKey(payee, params)}|${params.recipientRandHash}`
            await tryToVoid('recipient-lane', payee, params)
            // Once per lane: after it, the sender's own mark in that lane is at its top.
            if (!selfVoided.has(laneKey(payee, params))) { selfVoided.add(laneKey(payee, params)); await tryToVoid('self', payee, params) }
          }
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
