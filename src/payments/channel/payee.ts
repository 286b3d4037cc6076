/**
 * The channel payee: verifies cumulative vouchers per chunk, persists the latest one before acknowledging,
 * and collects or closes on chain (closing at once when the payer starts a unilateral close).
 *
 * What it books: `received` is what the contract's events say it paid, never what a voucher says. What a voucher
 * promised and the chain will never pay is a loss (`lostCount` channels, `lostValue` token units), logged with its
 * reason: a voucher above a deposit the chain no longer holds (a reorganised top-up) when the channel closes, or a
 * channel its payer closed and settled before this payee presented its best voucher.
 *
 * @example
 * ```ts
 * import { createChannelPayee } from './payee.js'
 * import { channelVoucherStore } from './store.js'
 * const payee = await createChannelPayee({ chain, deployment, key, store: channelVoucherStore('vouchers.sqlite'), logger })
 * await payee.receive(payment)          // a voucher for one more chunk
 * await payee.settle({ force: true })    // close every channel with its best voucher
 * ```
 */
import { parseEventLogs, type Address, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { Chain } from '../../chain/types.js'
import type { SoukDeployment } from '../deploy.js'
import { write } from '../../chain/tx.js'
import { PaymentChannelAbi } from '../../../artifacts/contracts.js'
import type { Logger } from '../../core/logger.js'
import { createSignerCache } from '../../crypto/secp256k1.js'
import { hexToBytes } from '../../crypto/bytes.js'
import { PaymentRejectedError } from '../errors.js'
import { ChannelBodySchema, PaymentSchema } from '../schemas.js'
import { addSettleReport, type PayeeSide, type PayeeStats, type Payment, type SettleReport } from '../types.js'
import type { ChannelVoucherStore } from './store.js'
import { channelDomain, voucherDigest } from './voucher.js'

export interface ChannelPayeeOptions {
  /** Minimum deposit asked of a new channel, in chunks. */
  minDepositChunks?: bigint
  /** Collect without `force` once this much is uncollected. */
  collectThreshold?: bigint
}

export interface ChannelPayeeContext {
  chain: Chain
  deployment: SoukDeployment
  key: Hex
  /** Where the vouchers are kept (`channelVoucherStore(path)`); the payee owns it and closes it in `close()`. */
  store: ChannelVoucherStore
  logger: Logger
  options?: ChannelPayeeOptions
}

/** What the payee knows of a channel: the deposit it last read (0 = not read yet in this process), its best voucher,
 * what the chain had paid it at the last collect, and the block from which to look for the channel's events. */
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000'

interface ChannelInfo { sender: Address; deposit: bigint; settleBlock: bigint; cumulative: bigint; sig?: Hex; closed: boolean; collected: bigint; fromBlock: bigint }

export async function createChannelPayee(ctx: ChannelPayeeContext): Promise<PayeeSide> {
  const log = ctx.logger.child('channel-payee')
  const me = privateKeyToAddress(ctx.key).toLowerCase() as Address
  const contract = ctx.deployment.contracts.channel.paymentChannel.toLowerCase() as Address
  const domain = channelDomain(ctx.chain.chainId, contract)
  const store = ctx.store
  const channels = new Map<Hex, ChannelInfo>()
  for (const r of store.all()) {
    channels.set(r.channelId, { sender: r.sender, deposit: 0n, settleBlock: 0n, cumulative: r.cumulative, sig: r.sig, closed: r.closed, collected: r.collected, fromBlock: r.fromBlock })
  }
  const signers = createSignerCache()
  const stats: PayeeStats = { payments: 0, credited: 0n, winning: 0, rejected: 0, settled: 0, received: 0n, transactions: 0, gasUsed: 0n }
  const settleDelay = ctx.deployment.contracts.channel.settleDelayBlocks

  function reject(reason: ConstructorParameters<typeof PaymentRejectedError>[0], msg: string): never {
    stats.rejected++
    log.warn('voucher rejected', { reason, msg })
    throw new PaymentRejectedError(reason, msg)
  }

  async function readChannel(id: Hex) {
    const c = await ctx.chain.public.readContract({ address: contract, abi: PaymentChannelAbi, functionName: 'getChannel', args: [id] })
    return c
  }

  return {
    scheme: 'channel',
    address: me,
    async terms(payer, pricePerChunk) {
      const p = payer.toLowerCase()
      const open = [...channels.entries()].find(([, c]) => c.sender === p && !c.closed)
      return {
        scheme: 'channel', chainId: ctx.chain.chainId, contract, payee: me, pricePerChunk,
        params: {
          settleDelayBlocks: settleDelay,
          minDeposit: pricePerChunk * (ctx.options?.minDepositChunks ?? 100n),
          ...(open ? { channelId: open[0], cumulative: open[1].cumulative } : {}),
        },
      }
    },
    async receive(raw) {
      const parsed = PaymentSchema.safeParse(raw)
      if (!parsed.success) reject('malformed', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
      const payment = parsed.data as Payment
      if (payment.scheme !== 'channel') reject('wrong-scheme', `expected a channel payment, got ${payment.scheme}`)
      if (payment.payee !== me) reject('wrong-payee', `payment is for ${payment.payee}`)
      const b = ChannelBodySchema.safeParse(payment.body)
      if (!b.success) reject('malformed', b.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))
      const body = b.data
      let info = channels.get(body.channelId)
      if (!info || info.deposit === 0n) {
        const c = await readChannel(body.channelId)
        if (c.sender === ZERO_ADDRESS) reject('unknown-channel', `channel ${body.channelId} does not exist on chain`)
        if (c.recipient.toLowerCase() !== me) reject('wrong-payee', `channel ${body.channelId} pays ${c.recipient}`)
        info = info
          ? { ...info, deposit: c.deposit, settleBlock: c.settleBlock }
          : { sender: c.sender.toLowerCase() as Address, deposit: c.deposit, settleBlock: c.settleBlock, cumulative: c.paid, closed: false, collected: c.paid, fromBlock: await ctx.chain.public.getBlockNumber() }
        channels.set(body.channelId, info)
      }
      if (info.closed) reject('unknown-channel', 'channel is closed')
      if (info.settleBlock !== 0n) reject('expired', 'channel is closing; open a new one')
      if (info.sender !== payment.payer) reject('bad-signature', `channel belongs to ${info.sender}, not ${payment.payer}`)
      if (body.cumulativeAmount <= info.cumulative) reject('replayed', `cumulative ${body.cumulativeAmount} is not above ${info.cumulative}`)
      // A voucher may add more than this payment's amount (an earlier voucher was lost or refused and the payer's
      // running total moved on): the payee is then paid more, never less, than it credits.
      if (body.cumulativeAmount - info.cumulative < payment.amount) reject('not-monotonic', `voucher adds ${body.cumulativeAmount - info.cumulative}, less than the payment's ${payment.amount}`)
      if (body.cumulativeAmount > info.deposit) {
        const c = await readChannel(body.channelId) // maybe topped up
        info.deposit = c.deposit
        if (body.cumulativeAmount > info.deposit) reject('underfunded', `voucher ${body.cumulativeAmount} exceeds the channel deposit ${info.deposit}`)
      }
      if (!signers.verify(voucherDigest(domain, body.channelId, body.cumulativeAmount), hexToBytes(body.sig), payment.payer)) {
        reject('bad-signature', 'voucher signature is not the payer\'s (or not canonical)')
      }
      store.upsert({ channelId: body.channelId, sender: info.sender, cumulative: body.cumulativeAmount, sig: body.sig, collected: info.collected, fromBlock: info.fromBlock }) // durable before ack
      info.cumulative = body.cumulativeAmount
      info.sig = body.sig
      stats.payments++
      stats.credited += payment.amount
      return { credited: payment.amount, winning: false }
    },
    async settle(opts = {}): Promise<SettleReport> {
      const report: SettleReport = { transactions: 0, gasUsed: 0n, received: 0n, settled: 0, pending: 0 }
      /** What `info`'s best voucher promised beyond `paidToUs`, the chain's total payment to this payee on it. */
      const lose = (id: Hex, info: ChannelInfo, paidToUs: bigint, reason: string) => {
        const value = info.cumulative - paidToUs
        if (value <= 0n) return
        report.lostCount = (report.lostCount ?? 0) + 1
        report.lostValue = (report.lostValue ?? 0n) + value
        stats.lostCount = (stats.lostCount ?? 0) + 1
        log.warn('channel voucher lost', { channel: id, reason, value: value.toString(), cumulative: info.cumulative.toString() })
      }
      for (const [id, info] of channels) {
        if (info.closed || !info.sig) continue
        opts.signal?.throwIfAborted()
        const c = await readChannel(id)
        if (c.sender === ZERO_ADDRESS) {
          // Settled without us: the payer closed it and the settle delay passed. Whatever its settlement paid us (a
          // challenge with our voucher by anyone) is received; the rest of our voucher is lost.
          const settled = await ctx.chain.public.getContractEvents({ address: contract, abi: PaymentChannelAbi, eventName: 'ChannelSettled', args: { channelId: id }, fromBlock: info.fromBlock })
          const got = settled.reduce((sum, ev) => sum + (ev.args.toRecipient ?? 0n), 0n)
          report.received += got
          lose(id, info, info.collected + got, 'the payer closed and settled the channel before this payee presented its best voucher')
          info.closed = true
          info.collected += got
          store.markClosed(id, info.collected)
          continue
        }
        // The channel pays a voucher up to its deposit (PaymentChannel: min(cumulativeAmount, deposit)). Ours is within
        // the deposit we read when accepting it; it can exceed what the chain now holds only if that read was undone
        // (a reorganised top-up): the shortfall is then a loss when the channel closes, never booked as received.
        const payable = info.cumulative < c.deposit ? info.cumulative : c.deposit
        const due = payable - c.paid
        if (payable < info.cumulative) log.warn('voucher above the channel deposit: it pays the whole deposit, the rest is lost unless the payer tops up', { channel: id, cumulative: info.cumulative.toString(), deposit: c.deposit.toString() })
        const closing = c.settleBlock !== 0n
        const fn = opts.force || closing ? 'closeByRecipient' : due > 0n && due >= (ctx.options?.collectThreshold ?? 0n) ? 'collect' : undefined
        if (!fn) { report.pending++; continue }
        const r = await write(ctx.chain, ctx.chain.wallet(ctx.key), { address: contract, abi: PaymentChannelAbi, functionName: fn, args: [id, info.cumulative, info.sig] }, opts)
        report.transactions++
        report.gasUsed += r.gasUsed
        // What was paid is what the contract's events say, not what we expected.
        let got = 0n
        // Stryker disable next-line MethodExpression,ArrowFunction,ConditionalExpression: defence in depth: only PaymentChannel emits these events in a transaction sent to it
        const ours = r.logs.filter((l) => l.address.toLowerCase() === contract)
        for (const ev of parseEventLogs({ abi: PaymentChannelAbi, logs: ours, eventName: ['ChannelCollected', 'ChannelSettled'] })) {
          // Stryker disable next-line ConditionalExpression,BlockStatement: defence in depth: a collect or close emits events of its own channel only
          if (ev.args.channelId.toLowerCase() !== id.toLowerCase()) continue
          got += ev.eventName === 'ChannelCollected' ? ev.args.amount : ev.args.toRecipient
        }
        report.received += got
        report.settled++
        info.collected = c.paid + got
        if (fn === 'closeByRecipient') {
          lose(id, info, info.collected, 'the voucher is above what the channel holds (a top-up the chain no longer has)')
          info.closed = true
          store.markClosed(id, info.collected)
        } else store.markCollected(id, info.collected)
        log.info(`${fn} done`, { channel: id, amount: got.toString() })
      }
      addSettleReport(stats, report)
      return report
    },
    stats: () => ({ ...stats }),
    async close() { store.close() },
  }
}
