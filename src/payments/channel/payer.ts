/**
 * The channel payer: opens (or resumes) a channel to the payee on chain, then signs one cumulative voucher per
 * chunk.
 *
 * @example
 * ```ts
 * import { createChannelPayer } from './payer.js'
 * const payer = await createChannelPayer({ chain, deployment, key })
 * const session = await payer.open(terms)           // opens a channel holding terms.params.minDeposit
 * const payment = await session.pay(terms.pricePerChunk)
 * ```
 */
import { parseEventLogs, type Address, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { Chain } from '../../chain/types.js'
import type { SoukDeployment } from '../deploy.js'
import { write } from '../../chain/tx.js'
import { PaymentChannelAbi, SoukTokenAbi } from '../../../artifacts/contracts.js'
import { bytesToHex } from '../../crypto/bytes.js'
import { PaymentError } from '../errors.js'
import { ChannelParamsSchema, PaymentTermsSchema } from '../schemas.js'
import type { PayerSide, PayerSession, PaymentTerms } from '../types.js'
import { channelDomain, signVoucher } from './voucher.js'

export interface ChannelPayerContext {
  chain: Chain
  deployment: SoukDeployment
  key: Hex
  options?: { /** Deposit of a new channel (default: the payee's minimum). */ deposit?: bigint }
}

export async function createChannelPayer(ctx: ChannelPayerContext): Promise<PayerSide> {
  const me = privateKeyToAddress(ctx.key).toLowerCase() as Address
  const contract = ctx.deployment.contracts.channel.paymentChannel.toLowerCase() as Address
  const domain = channelDomain(ctx.chain.chainId, contract)
  const wallet = ctx.chain.wallet(ctx.key)
  const open = new Map<Address, { id: Hex; cumulative: bigint; deposit: bigint }>()

  async function openChannel(payee: Address, deposit: bigint) {
    const allowance = await ctx.chain.public.readContract({ address: ctx.deployment.token, abi: SoukTokenAbi, functionName: 'allowance', args: [me, contract] })
    if (allowance < deposit) await write(ctx.chain, wallet, { address: ctx.deployment.token, abi: SoukTokenAbi, functionName: 'approve', args: [contract, (1n << 256n) - 1n] })
    // The id comes from the receipt's ChannelOpened event: reading nextChannelId first races with concurrent opens.
    const receipt = await write(ctx.chain, wallet, { address: contract, abi: PaymentChannelAbi, functionName: 'open', args: [payee, deposit] })
    const [opened] = parseEventLogs({ abi: PaymentChannelAbi, eventName: 'ChannelOpened', logs: receipt.logs })
    if (!opened) throw new PaymentError('PaymentChannel.open emitted no ChannelOpened event', { details: { tx: receipt.transactionHash } })
    return opened.args.channelId
  }

  return {
    scheme: 'channel',
    address: me,
    async open(raw: PaymentTerms) {
      const t = PaymentTermsSchema.safeParse(raw)
      if (!t.success || t.data.scheme !== 'channel') throw new PaymentError('Malformed channel terms')
      let terms = t.data as PaymentTerms
      if (terms.chainId !== ctx.chain.chainId || terms.contract !== contract) throw new PaymentError('Terms are for another chain or channel contract')
      const p = ChannelParamsSchema.safeParse(terms.params)
      if (!p.success) throw new PaymentError('Malformed channel parameters')
      const payee = terms.payee
      let ch = open.get(payee)
      if (!ch) {
        let deposit = ctx.options?.deposit ?? p.data.minDeposit
        let id: Hex
        if (p.data.channelId && p.data.cumulative !== undefined) {
          // Resuming the payee's open channel: its deposit is what the chain holds (earlier top-ups included).
          id = p.data.channelId
          deposit = (await ctx.chain.public.readContract({ address: contract, abi: PaymentChannelAbi, functionName: 'getChannel', args: [id] })).deposit
        } else id = await openChannel(payee, deposit)
        ch = { id, cumulative: p.data.channelId ? (p.data.cumulative ?? 0n) : 0n, deposit }
        open.set(payee, ch)
      }
      let paid = 0n
      const c = ch
      const session: PayerSession = {
        payee,
        get terms() { return terms },
        async pay(amount) {
          if (amount <= 0n) throw new PaymentError('Amount must be positive')
          const next = c.cumulative + amount
          if (next > c.deposit) {
            // The payee refuses a voucher above the deposit: at least double it, and always enough for this voucher.
            const add = next - c.deposit > c.deposit ? next - c.deposit : c.deposit
            await write(ctx.chain, wallet, { address: contract, abi: PaymentChannelAbi, functionName: 'topUp', args: [c.id, add] })
            c.deposit += add
          }
          c.cumulative = next
          paid += amount
          const sig = signVoucher(domain, c.id, next, ctx.key)
          return { scheme: 'channel', payer: me, payee, amount, body: { channelId: c.id, cumulativeAmount: next, sig: bytesToHex(sig) } }
        },
        update(n) { terms = n },
        paid: () => paid,
        async close() {},
      }
      return session
    },
    async close() {},
  }
}
