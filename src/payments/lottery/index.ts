/** The `lottery` scheme: probabilistic tickets settled by TicketBroker. */
export * from './ticket.js'
export { createLotteryPayee, type LotteryPayee, type LotteryPayeeOptions, type LotteryPayeeContext } from './payee.js'
export { createLotteryPayer, type LotteryPayerContext } from './payer.js'
