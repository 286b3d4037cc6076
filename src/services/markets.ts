/**
 * The list of service markets: the only place that names them all. `souk node --market` and `souk testnet
 * --market` choose from it; adding a market is its folder and one line here.
 *
 * @example
 * ```ts
 * import { marketByName, marketNames } from './markets.js'
 * marketNames() // ['cdn', 'storage', 'compute']
 * marketByName('cdn').roles // ['publisher', 'cache', 'client']
 * ```
 */
import { z } from 'zod'
import { ValidationError } from '../core/errors.js'
import type { ServiceMarket } from './market.js'
import { cdnMarket } from './cdn/index.js'
import { storageMarket } from './storage/index.js'
import { computeMarket } from './compute/index.js'

export const markets = {
  cdn: cdnMarket,
  storage: storageMarket,
  compute: computeMarket,
} as const satisfies Record<string, Pick<ServiceMarket, 'name' | 'description' | 'roles' | 'paidRoles'>>

export type MarketName = keyof typeof markets

export function marketNames(): MarketName[] {
  return Object.keys(markets) as MarketName[]
}

export function isMarketName(name: string): name is MarketName {
  return Object.hasOwn(markets, name)
}

/** The market called `name`; a typed error naming the known ones otherwise. */
export function marketByName<N extends MarketName>(name: N): (typeof markets)[N]
export function marketByName(name: string): ServiceMarket
export function marketByName(name: string): ServiceMarket {
  if (!isMarketName(name)) throw new ValidationError(`Unknown market ${JSON.stringify(name)}`, { code: 'UNKNOWN_MARKET', details: { known: marketNames() }, hints: [`use one of: ${marketNames().join(', ')}`] })
  return markets[name] as unknown as ServiceMarket
}

/** A zod enum of the market names (CLI options, node configuration). */
export function marketEnum() {
  return z.enum(marketNames() as [MarketName, ...MarketName[]])
}
