/**
 * The payment layer: one `PaymentScheme` interface (scheme.ts), one folder per scheme (lottery, channel,
 * microcash), listed once in schemes.ts and chosen by name (registry.ts); `deploySouk` deploys the token and every
 * scheme. See docs/payments.md.
 */
import { schemeNames } from './schemes.js'

export * from './types.js'
export * from './errors.js'
export * from './schemas.js'
export * from './scheme.js'
export * from './registry.js'
export { schemes, schemeNames, isSchemeName, schemeEnum, type Schemes, type AnyScheme, type SchemeOf } from './schemes.js'
export { deploySouk, type SoukDeployment, type DeployOptions, type SchemeContractsByName } from './deploy.js'
export * as lottery from './lottery/index.js'
export * as channel from './channel/index.js'
export * as microcash from './microcash/index.js'

/** The names of every scheme, in list order. */
export const SCHEME_NAMES: readonly string[] = schemeNames()
