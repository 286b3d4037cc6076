/**
 * The markets the simulator runs, by name (a market of src/services/markets.ts with a `SimMarket` here). Adding one:
 * its file in this folder and one line below.
 */
import { SimError } from '../engine.js'
import type { SimMarket } from '../types.js'
import { cdnSim } from './cdn.js'
import { computeSim } from './compute.js'
import { storageSim } from './storage.js'

export const SIM_MARKETS: Readonly<Record<string, SimMarket>> = { cdn: cdnSim, storage: storageSim, compute: computeSim }

export function simMarket(name: string): SimMarket {
  const m = SIM_MARKETS[name]
  if (!m) throw new SimError(`The simulator does not run the ${name} market yet`, { code: 'SIM_MARKET', hints: [`simulated markets: ${Object.keys(SIM_MARKETS).join(', ')}`] })
  return m
}
