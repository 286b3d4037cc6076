/** The `channel` scheme: cumulative vouchers over PaymentChannel. */
export * from './voucher.js'
export { createChannelPayee, type ChannelPayeeOptions, type ChannelPayeeContext } from './payee.js'
export { createChannelPayer, type ChannelPayerContext } from './payer.js'
