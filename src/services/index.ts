/**
 * The service markets: the `ServiceMarket` seam (`market.ts`) and the one list of markets (`markets.ts`). Each
 * market is a folder (`cdn/`, published as `souk/services/cdn`).
 *
 * @example
 * ```ts
 * import { marketByName, marketNames } from 'souk/services'
 * marketNames()                    // ['cdn']
 * marketByName('cdn').roles        // the roles `souk node --market cdn --role <role>` runs
 * ```
 */
export * from './market.js'
export * from './markets.js'
