/**
 * The payment layer: one `PaymentScheme` interface (types.ts), three schemes (lottery, channel, microcash), chosen
 * by name. See docs/payments.md.
 */
export * from './types.js'
export * from './errors.js'
export * from './schemas.js'
export * from './registry.js'
export * as lottery from './lottery/index.js'
export * as channel from './channel/index.js'
// Importing microcash registers it, so all three schemes are selectable by name.
export * as microcash from './microcash/index.js'
