/**
 * Inputs of the viability model (protocols.md §9), validated at the boundary: every rate non-negative, every share
 * within [0, 1], named by its path when refused.
 *
 * @example
 * ```ts
 * import { parseViabilityInputs } from './schema.js'
 * import { PRESETS } from './presets.js'
 * parseViabilityInputs({ ...PRESETS['bbc-iplayer'].inputs }).demand.catalogSize // 3000
 * ```
 */
import { z } from 'zod'
import { ValidationError } from '../core/errors.js'

const rate = (d: string) => z.number().min(0).meta({ description: d })
const positive = (d: string) => z.number().positive().meta({ description: d })
const share = (d: string) => z.number().min(0).max(1).meta({ description: d })

export const DemandSchema = z.strictObject({
  catalogSize: z.int().min(1).meta({ description: 'Number of items (videos, files, job types).' }),
  zipfExponent: z.number().min(0).max(5).meta({ description: 'Zipf popularity exponent s: item i gets a share proportional to i^-s.' }),
  arrivalRatePerSec: rate('Requests per second over the whole catalog (at the hour studied).'),
  bitrateMbps: positive('Bitrate a viewer consumes (Mbit/s).'),
  watchTimeSec: positive('Mean time a viewer stays on an item (s).'),
})

export const SupplySchema = z.strictObject({
  uploadMbps: rate('Upload capacity a participating peer gives (Mbit/s).'),
  participation: share('Share of viewers that run the peer client (each independently): they download from and upload to the other participants; the rest are served by the provider.'),
  sessionLengthSec: positive('Mean online session of a peer (churn); null for no churn.').nullable(),
  swarmPartitions: z.int().min(1).meta({ description: 'Swarms are split into this many independent partitions (ISP-friendly: one per ISP).' }),
})

export const CostSchema = z.strictObject({
  providerPricePerGB: rate('What the provider-only baseline (CDN, cloud) charges per GB (USD).'),
  chunkSizeMB: positive('Size of one paid chunk (MB).'),
  pricePerChunk: rate('What the sponsor pays a peer per chunk (USD).'),
  peerCostPerGB: rate("A peer's bandwidth cost to upload one GB (USD); electricity and hardware are in `peer`."),
  gasPerRedeemTx: rate('Gas of one batch redemption transaction.'),
  gasPriceGwei: rate('Gas price (gwei).'),
  ethPriceUsd: rate('Price of the gas token (USD).'),
  chunksPerWinningTicket: z.number().min(1).meta({ description: 'Chunks paid per winning ticket (1 / win probability).' }),
  batchSize: z.int().min(1).meta({ description: 'Winning tickets redeemed per transaction.' }),
})

/** A participating peer's month, for the supply-side figures (what it earns, uploads and spends). */
export const PeerSchema = z.strictObject({
  viewingHoursPerMonth: rate('Hours a month a participating peer watches, and so serves (it uploads only while it watches).'),
  extraWatts: rate('Extra power a device draws while it serves (W): network and CPU for hashing and encryption; the device is on anyway for viewing.'),
  electricityPerKWh: rate('What the peer pays for electricity (USD per kWh).'),
  hardwareUsdPerMonth: rate("Hardware the peer buys or wears out for the market, per month (USD); 0 for a viewer's own device."),
})

/** The verdict's thresholds. */
export const SwarmTargetsSchema = z.strictObject({
  minOffload: share('The verdict: peers must carry at least this share of the traffic, or the peer layer is not worth building.'),
  minSavings: share("The verdict: the sponsor must save at least this share of the provider-only cost (and more than nothing)."),
  minPeerProfitPerMonth: z.number().meta({ description: "The verdict: a participating peer's earnings must exceed its costs by at least this much a month (USD)." }),
})

/** Defaults for inputs written before the supply side and the verdict's targets existed. */
export const DEFAULT_PEER = { viewingHoursPerMonth: 20, extraWatts: 5, electricityPerKWh: 0.3, hardwareUsdPerMonth: 0 }
export const DEFAULT_SWARM_TARGETS = { minOffload: 0.2, minSavings: 0.1, minPeerProfitPerMonth: 0 }

export const ViabilityInputsSchema = z.strictObject({
  demand: DemandSchema, supply: SupplySchema, costs: CostSchema,
  peer: PeerSchema.default(DEFAULT_PEER), targets: SwarmTargetsSchema.default(DEFAULT_SWARM_TARGETS),
})
export type ViabilityInputs = z.output<typeof ViabilityInputsSchema>

export class ViabilityInputError extends ValidationError {
  override name = 'ViabilityInputError'
}

function get(o: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Record<PropertyKey, unknown>)[k] : undefined), o)
}

/** Validates inputs; throws a `ViabilityInputError` naming every bad input, its value and its allowed range. */
export function parseViabilityInputs(raw: unknown): ViabilityInputs {
  const r = ViabilityInputsSchema.safeParse(raw)
  if (r.success) return r.data
  const lines = r.error.issues.map((i) => {
    const name = i.path.map(String).join('.')
    const v = get(raw, i.path)
    return `${name}${v === undefined ? '' : ` = ${JSON.stringify(v)}`}: ${i.message}`
  })
  throw new ViabilityInputError(`Invalid viability inputs:\n  ${lines.join('\n  ')}`, {
    hints: ['rates, sizes and prices must be non-negative; shares (participation) lie in [0, 1]; counts are whole numbers'],
  })
}

/** Every numeric input as a dotted path, in a stable order (used for sensitivity and `--set`). */
export function inputPaths(inputs: ViabilityInputs): string[] {
  const out: string[] = []
  for (const [g, obj] of Object.entries(inputs)) for (const [k, v] of Object.entries(obj)) if (typeof v === 'number') out.push(`${g}.${k}`)
  return out
}

export function getInput(inputs: ViabilityInputs, path: string): number {
  const [g, k] = path.split('.')
  return (inputs as unknown as Record<string, Record<string, number>>)[g]?.[k]
}

/** Returns a copy with one input replaced (not validated; call `parseViabilityInputs` on user values). */
export function withInput(inputs: ViabilityInputs, path: string, value: number | null): ViabilityInputs {
  const [g, k] = path.split('.')
  const copy = structuredClone(inputs) as unknown as Record<string, Record<string, number | null>>
  if (!copy[g] || !(k in copy[g])) throw new ViabilityInputError(`Unknown viability input "${path}"`, { hints: [`use one of: ${inputPaths(inputs).join(', ')}`] })
  copy[g][k] = value
  return copy as unknown as ViabilityInputs
}
