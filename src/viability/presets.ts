/**
 * Named input sets. `bbc-iplayer` follows the published setting of Karamshuk et al., "ISP-friendly peer-assisted
 * on-demand streaming of long duration content in BBC iPlayer" (INFOCOM 2015; surveyed by Anjum et al. 2017):
 * a one-month trace of 15M accesses by over 2M users in London, swarms kept inside each ISP, up to 88% of traffic
 * offloadable. Numbers the paper does not give are assumptions, listed in `assumptions` and docs/viability.md.
 * `PRESETS` run on the video-swarm model; the `storage` preset has its own cost model (`./storage.js`), and the
 * `compute` and `compute-l1` presets the transcoding market's (`./compute.js`); `VIABILITY_PRESETS` lists every
 * kind, each with its model.
 *
 * @example
 * ```ts
 * import { PRESETS, VIABILITY_PRESETS } from './presets.js'
 * PRESETS['bbc-iplayer'].reportedOffload // 0.88
 * VIABILITY_PRESETS.storage.model          // 'storage'
 * VIABILITY_PRESETS.compute.model          // 'compute'
 * ```
 */
import type { ViabilityInputs } from './schema.js'
import { STORAGE_PRESETS, type StoragePreset } from './storage.js'
import { COMPUTE_PRESETS, type ComputePreset } from './compute.js'

export interface Preset {
  title: string
  description: string
  inputs: ViabilityInputs
  /** The published figure this preset is compared with, if any. */
  reportedOffload?: number
  source?: string
  assumptions: string[]
}

const SECONDS_PER_MONTH = 30 * 86_400
/** Published: 15M accesses in one month (London). */
const BBC_ACCESSES_PER_MONTH = 15e6
/** Published: by over 2M users. */
const BBC_USERS = 2e6
/** Assumed: 30-minute views (as `demand.watchTimeSec`). */
const BBC_VIEW_HOURS = 0.5
/** The verdict's default thresholds (docs/viability.md § The verdict). */
const TARGETS = { minOffload: 0.2, minSavings: 0.1, minPeerProfitPerMonth: 0 }
/** Assumed: the peak hour carries three times the month's mean rate (evening TV peak). */
const BBC_PEAK_FACTOR = 3

/** Souk's gas target per ticket in a batch of 100 (protocols.md §1), on an L2 priced gas token. */
const SOUK_GAS_PER_TICKET_IN_BATCH = 16_000
const L2 = { gasPriceGwei: 0.01, ethPriceUsd: 3000 }

export const PRESETS: Record<string, Preset> = {
  'bbc-iplayer': {
    title: 'BBC iPlayer, London, peak hour, ISP-friendly swarms',
    description: 'Peer-assisted on-demand TV: one month of iPlayer in London (Karamshuk et al., INFOCOM 2015).',
    reportedOffload: 0.88,
    source: 'Karamshuk, Sastry, Secker, Chandaria: ISP-friendly peer-assisted on-demand streaming of long duration content in BBC iPlayer, IEEE INFOCOM 2015 (arXiv:1504.03536); Anjum et al. 2017 survey',
    assumptions: [
      `arrival rate: 15M accesses / 30 days = ${(BBC_ACCESSES_PER_MONTH / SECONDS_PER_MONTH).toFixed(2)}/s on average, x${BBC_PEAK_FACTOR} at the evening peak`,
      'catalog: 3000 items available in the month (catch-up window across the BBC channels), Zipf exponent 1.0',
      'watch time: 30 minutes (long-duration content, partly watched)',
      'ISP-friendly: swarms split into 4 equal partitions (most accesses come from a few large ISPs)',
      'bitrate 1.5 Mbit/s (the most popular of the two main formats), peers upload 2 Mbit/s, full participation, no churn during a view',
      'costs: CDN at $0.02/GB, 1 MB chunks, $0.00001 per chunk to peers, peers\' own cost $0.002/GB, lottery 1/1000, batches of 100 at 16k gas per ticket on an L2',
      `a peer's month: ${BBC_ACCESSES_PER_MONTH / BBC_USERS} views (15M accesses / 2M users, published) x 30 minutes = ${(BBC_ACCESSES_PER_MONTH / BBC_USERS) * BBC_VIEW_HOURS} hours watched, and served, at the modelled hour's rate (an upper bound: off-peak swarms are smaller)`,
      'a peer\'s costs: 5 W more while serving (network and CPU on a device that is on anyway), electricity $0.30/kWh (UK domestic price cap 2024, ~24-25p), no extra hardware; bandwidth $0.002/GB (flat-rate broadband: near zero)',
      'the verdict: peers carry at least 20% of the traffic, the sponsor saves at least 10%, a peer earns more than its costs',
    ],
    inputs: {
      demand: { catalogSize: 3000, zipfExponent: 1.0, arrivalRatePerSec: (BBC_ACCESSES_PER_MONTH / SECONDS_PER_MONTH) * BBC_PEAK_FACTOR, bitrateMbps: 1.5, watchTimeSec: 1800 },
      supply: { uploadMbps: 2, participation: 1, sessionLengthSec: null, swarmPartitions: 4 },
      costs: { providerPricePerGB: 0.02, chunkSizeMB: 1, pricePerChunk: 0.00001, peerCostPerGB: 0.002, gasPerRedeemTx: SOUK_GAS_PER_TICKET_IN_BATCH * 100, ...L2, chunksPerWinningTicket: 1000, batchSize: 100 },
      peer: { viewingHoursPerMonth: (BBC_ACCESSES_PER_MONTH / BBC_USERS) * BBC_VIEW_HOURS, extraWatts: 5, electricityPerKWh: 0.3, hardwareUsdPerMonth: 0 },
      targets: TARGETS,
    },
  },
  transcoding: {
    title: 'Live transcoding by peer workers',
    description: 'Viewers of a live channel who own spare encoders transcode renditions for the others. Items are channels, "bitrate" is the rendition ladder a viewer needs, "upload" what a worker contributes, "watch time" the viewing session.',
    assumptions: [
      '500 live channels, Zipf 1.2, 5 viewers arriving per second, 40-minute sessions',
      'a viewer needs a 6 Mbit/s ladder; workers contribute 4 Mbit/s of transcoded output, 30% participate, sessions of 1 h',
      'baseline: cloud transcoding + delivery priced at $0.15 per GB of output; peers paid $0.00005 per 1 MB chunk; their cost $0.02/GB',
      'a worker\'s month: 30 hours of viewing, and transcoding, 30 W more while it encodes, electricity $0.20/kWh, no extra hardware',
      'the verdict: peers carry at least 20% of the traffic, the sponsor saves at least 10%, a peer earns more than its costs',
    ],
    inputs: {
      demand: { catalogSize: 500, zipfExponent: 1.2, arrivalRatePerSec: 5, bitrateMbps: 6, watchTimeSec: 2400 },
      supply: { uploadMbps: 4, participation: 0.3, sessionLengthSec: 3600, swarmPartitions: 1 },
      costs: { providerPricePerGB: 0.15, chunkSizeMB: 1, pricePerChunk: 0.00005, peerCostPerGB: 0.02, gasPerRedeemTx: SOUK_GAS_PER_TICKET_IN_BATCH * 100, ...L2, chunksPerWinningTicket: 200, batchSize: 100 },
      peer: { viewingHoursPerMonth: 30, extraWatts: 30, electricityPerKWh: 0.2, hardwareUsdPerMonth: 0 },
      targets: TARGETS,
    },
  },
  'storage-retrieval': {
    title: 'Paid retrieval from decentralized storage (swarm model)',
    description: 'Hosts that hold a file serve its retrievals; concurrent downloaders of the same file share pieces. "Watch time" is the download duration, "bitrate" the download rate. The cost of storing is the storage preset\'s (its own model); this asks whether downloaders can offload retrieval.',
    assumptions: [
      '100,000 stored objects retrieved at 20/s, Zipf 0.8 (long tail of rarely read files)',
      'a retrieval lasts 60 s at 20 Mbit/s; downloaders upload 10 Mbit/s, 60% run the peer client, sessions of 2 h',
      'baseline: cloud egress at $0.09/GB; peers paid $0.00002 per 1 MB chunk; their cost $0.005/GB',
      'a peer\'s month: 10 hours of retrievals, 5 W more while serving, electricity $0.20/kWh, no extra hardware',
      'the verdict: peers carry at least 20% of the traffic, the sponsor saves at least 10%, a peer earns more than its costs',
    ],
    inputs: {
      demand: { catalogSize: 100_000, zipfExponent: 0.8, arrivalRatePerSec: 20, bitrateMbps: 20, watchTimeSec: 60 },
      supply: { uploadMbps: 10, participation: 0.6, sessionLengthSec: 7200, swarmPartitions: 1 },
      costs: { providerPricePerGB: 0.09, chunkSizeMB: 1, pricePerChunk: 0.00002, peerCostPerGB: 0.005, gasPerRedeemTx: SOUK_GAS_PER_TICKET_IN_BATCH * 100, ...L2, chunksPerWinningTicket: 500, batchSize: 100 },
      peer: { viewingHoursPerMonth: 10, extraWatts: 5, electricityPerKWh: 0.2, hardwareUsdPerMonth: 0 },
      targets: TARGETS,
    },
  },
}

/** A named preset and the model it runs on: the video-swarm model (`./model.js`), the storage model (`./storage.js`) or the compute model (`./compute.js`). */
export type AnyPreset = { model: 'swarm'; preset: Preset } | { model: 'storage'; preset: StoragePreset } | { model: 'compute'; preset: ComputePreset }

/** Every preset `souk viability --preset` accepts, by name. */
export const VIABILITY_PRESETS: Record<string, AnyPreset> = {
  ...Object.fromEntries(Object.entries(PRESETS).map(([k, preset]) => [k, { model: 'swarm' as const, preset }])),
  ...Object.fromEntries(Object.entries(STORAGE_PRESETS).map(([k, preset]) => [k, { model: 'storage' as const, preset }])),
  ...Object.fromEntries(Object.entries(COMPUTE_PRESETS).map(([k, preset]) => [k, { model: 'compute' as const, preset }])),
}
