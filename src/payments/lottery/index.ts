/** The `lottery` scheme: probabilistic tickets settled by TicketBroker. `lotteryScheme` is its `PaymentScheme`. */
import type { Address } from 'viem'
import { SoukTokenAbi, TicketBrokerAbi, TicketBrokerBytecode } from '../../../artifacts/contracts.js'
import { deployContract } from '../../chain/deploy.js'
import { write } from '../../chain/tx.js'
import { addPaid, deployedAt, type PaymentScheme, type SchemeContracts } from '../scheme.js'
import { createLotteryPayee } from './payee.js'
import { createLotteryPayer, type LotteryPayerContext } from './payer.js'
import { lotteryPayeeStore } from './store.js'

export * from './ticket.js'
export { redeemedTickets, type RedeemedTicket } from './events.js'
export { createLotteryPayee, type LotteryPayee, type LotteryPayeeOptions, type LotteryPayeeContext } from './payee.js'
export { createLotteryPayer, type LotteryPayerContext, type LotteryPayerAdversary, type VoidTicketsAttempt } from './payer.js'
export * from './store.js'

/** `deployment.contracts.lottery`. */
export interface LotteryContracts extends SchemeContracts {
  ticketBroker: Address
  unlockPeriodBlocks: number
}

/** `deploySouk` options of the lottery. */
export interface LotteryDeployParams {
  /** Blocks between a sender's unlock and its withdrawal (default 100). */
  unlockPeriodBlocks?: number
}

export interface LotterySummary { ticketsIssued: number; won: number; redeemed: number; redeemTransactions: number }

export const lotteryScheme: PaymentScheme<'lottery', LotteryContracts, LotteryDeployParams, LotterySummary> = {
  name: 'lottery',
  description: 'probabilistic tickets redeemed in batches on TicketBroker',
  contractName: 'TicketBroker',
  async deploy(chain, key, p) {
    const unlockPeriodBlocks = p.unlockPeriodBlocks ?? 100
    const ticketBroker = await deployContract(chain, key, TicketBrokerAbi, TicketBrokerBytecode, [p.token, BigInt(unlockPeriodBlocks)])
    return { ticketBroker, unlockPeriodBlocks, blockNumber: await deployedAt(chain) }
  },
  payee: (ctx) => createLotteryPayee({ ...ctx, store: lotteryPayeeStore(ctx.storePath), options: ctx.options }),
  // `options.unsafeAdversary`: simulations only (a cheating sender; see LotteryPayerContext).
  payer: (ctx) => createLotteryPayer({ ...ctx, unsafeAdversary: ctx.options?.unsafeAdversary as LotteryPayerContext['unsafeAdversary'] }),
  async fund(ctx, f) {
    const broker = ctx.deployment.contracts.lottery.ticketBroker
    const w = ctx.chain.wallet(ctx.key)
    const total = f.deposit + (f.reserves ?? []).reduce((s, r) => s + r.amount, 0n)
    await write(ctx.chain, w, { address: ctx.deployment.token, abi: SoukTokenAbi, functionName: 'approve', args: [broker, total] })
    if (f.deposit > 0n) await write(ctx.chain, w, { address: broker, abi: TicketBrokerAbi, functionName: 'fundDeposit', args: [f.deposit] })
    for (const r of f.reserves ?? []) {
      await write(ctx.chain, w, { address: broker, abi: TicketBrokerAbi, functionName: 'fundReserve', args: [r.payee, r.amount] })
    }
  },
  // Per-payee reserves: the publisher funds one for each cache it hires.
  plan: () => ({ deposit: 0n, fundsEachPayee: true }),
  // The lottery knows a winner at receipt: the service counts winning tickets.
  winnersOf: (r) => Number(r.service.winningTickets ?? 0),
  async audit(chain, c, range) {
    const paidByEvents: Record<string, bigint> = {}
    let redeemed = 0
    const txs = new Set<string>()
    for (const l of await chain.public.getContractEvents({ address: c.ticketBroker, abi: TicketBrokerAbi, eventName: 'WinningTicketRedeemed', ...range })) {
      const a = l.args as { recipient: Address; faceValue: bigint }
      addPaid(paidByEvents, a.recipient, a.faceValue)
      redeemed++
      txs.add(l.transactionHash!)
    }
    // The run format: one event per run of a sender's tickets (what LotteryPayee sends).
    for (const l of await chain.public.getContractEvents({ address: c.ticketBroker, abi: TicketBrokerAbi, eventName: 'TicketsRedeemed', ...range })) {
      const a = l.args as { recipient: Address; fromDeposit: bigint; fromReserve: bigint; seqs: `0x${string}` }
      addPaid(paidByEvents, a.recipient, a.fromDeposit + a.fromReserve)
      redeemed += (a.seqs.length - 2) / 32
      txs.add(l.transactionHash!)
    }
    return { contract: c.ticketBroker, paidByEvents, facts: { redeemed, redeemTransactions: txs.size } }
  },
  summarize: (run, audit) => ({
    ticketsIssued: run.paymentsAccepted, won: run.payees.reduce((s, p) => s + p.winning, 0), redeemed: audit.facts.redeemed ?? 0, redeemTransactions: audit.facts.redeemTransactions ?? 0,
  }),
  describe: (p) => [`  payments (lottery)    ${p.ticketsIssued} tickets issued, ${p.won} won, ${p.redeemed} redeemed on chain in ${p.redeemTransactions} transactions`],
}
