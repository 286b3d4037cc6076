/** The `channel` scheme: cumulative vouchers over PaymentChannel. `channelScheme` is its `PaymentScheme`. */
import type { Address, Hex } from 'viem'
import { PaymentChannelAbi, PaymentChannelBytecode } from '../../../artifacts/contracts.js'
import { deployContract } from '../../chain/deploy.js'
import { addPaid, deployedAt, formatSouk, type PaymentScheme, type SchemeContracts } from '../scheme.js'
import { createChannelPayee } from './payee.js'
import { createChannelPayer } from './payer.js'
import { channelVoucherStore } from './store.js'

export * from './voucher.js'
export { createChannelPayee, type ChannelPayeeOptions, type ChannelPayeeContext } from './payee.js'
export { createChannelPayer, type ChannelPayerContext } from './payer.js'
export * from './store.js'

/** `deployment.contracts.channel`. */
export interface ChannelContracts extends SchemeContracts {
  paymentChannel: Address
  settleDelayBlocks: number
}

/** `deploySouk` options of the channel scheme. */
export interface ChannelDeployParams {
  /** Blocks a channel's close waits for a better voucher (default 50). */
  settleDelayBlocks?: number
}

export interface ChannelSummary { vouchersSigned: number; channelsOpened: number; channelsClosed: number; collections: number; collectedOnChain: string }

export const channelScheme: PaymentScheme<'channel', ChannelContracts, ChannelDeployParams, ChannelSummary> = {
  name: 'channel',
  description: 'cumulative vouchers over a PaymentChannel opened per payee',
  contractName: 'PaymentChannel',
  async deploy(chain, key, p) {
    const settleDelayBlocks = p.settleDelayBlocks ?? 50
    const paymentChannel = await deployContract(chain, key, PaymentChannelAbi, PaymentChannelBytecode, [p.token, BigInt(settleDelayBlocks)])
    return { paymentChannel, settleDelayBlocks, blockNumber: await deployedAt(chain) }
  },
  payee: (ctx) => createChannelPayee({ ...ctx, store: channelVoucherStore(ctx.storePath), options: ctx.options }),
  payer: (ctx) => createChannelPayer({ ...ctx, options: ctx.options }),
  // Nothing to fund ahead: a channel is opened (and funded) per payee at `open`.
  async fund() {},
  plan: () => ({ deposit: 0n }),
  winnersOf: (r) => Number(r.service.winningTickets ?? 0),
  async audit(chain, c, range) {
    const address = c.paymentChannel
    const paidByEvents: Record<string, bigint> = {}
    let channelsOpened = 0, channelsClosed = 0, collections = 0
    const recipientOf = new Map<string, Address>()
    for (const l of await chain.public.getContractEvents({ address, abi: PaymentChannelAbi, eventName: 'ChannelOpened', ...range })) {
      const a = l.args as { channelId: Hex; recipient: Address }
      recipientOf.set(a.channelId, a.recipient)
      channelsOpened++
    }
    for (const l of await chain.public.getContractEvents({ address, abi: PaymentChannelAbi, eventName: 'ChannelCollected', ...range })) {
      const a = l.args as { channelId: Hex; amount: bigint }
      addPaid(paidByEvents, recipientOf.get(a.channelId) ?? '0x', a.amount)
      collections++
    }
    for (const l of await chain.public.getContractEvents({ address, abi: PaymentChannelAbi, eventName: 'ChannelSettled', ...range })) {
      const a = l.args as { channelId: Hex; toRecipient: bigint }
      addPaid(paidByEvents, recipientOf.get(a.channelId) ?? '0x', a.toRecipient)
      channelsClosed++
    }
    return { contract: address, paidByEvents, facts: { channelsOpened, channelsClosed, collections } }
  },
  // One voucher per payment, including any a payee refused.
  summarize: (run, audit) => ({
    vouchersSigned: Number(run.payer?.claimsPaid ?? run.paymentsAccepted) + Number(run.payer?.paymentsRefused ?? 0),
    channelsOpened: audit.facts.channelsOpened ?? 0, channelsClosed: audit.facts.channelsClosed ?? 0, collections: audit.facts.collections ?? 0,
    collectedOnChain: Object.values(audit.paidByEvents).reduce((a, b) => a + b, 0n).toString(),
  }),
  describe: (p) => [`  payments (channel)    ${p.vouchersSigned} vouchers signed, ${p.channelsOpened} channels opened, ${p.channelsClosed} closed, ${p.collections} collections; ${formatSouk(p.collectedOnChain)} collected on chain`],
}
