/**
 * The service markets: the `ServiceMarket` seam (`market.ts`) and the one list of markets (`markets.ts`). Each
 * market is a folder (`cdn/`, `storage/`, `compute/`, published as `souk/services/cdn`, `souk/services/storage`, `souk/services/compute`).
 *
 * @example
 * ```ts
 * import { marketByName, marketNames } from 'souk/services'
 * marketNames()                    // ['cdn', 'storage', 'compute']
 * marketByName('cdn').roles        // the roles `souk node --market cdn --role <role>` runs
 * ```
 */
export * from './market.js'
export * from './markets.js'
