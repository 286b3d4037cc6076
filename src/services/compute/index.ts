/**
 * The compute market (docs/compute.md): a client makes a transcoding job with a worker through the market and
 * escrows its price on chain while the worker locks a stake; the worker transcodes each unit (a segment of frames)
 * with sharp and claims every batch with one Merkle root over (unit, input hash, output hash); challenged units are
 * drawn from the chain after the root is posted, re-executed by the job's checkers (commit, then reveal), and a
 * quorum of signed bad verdicts faults the batch with the worker's Merkle path: the stake goes to the client and the
 * finder; batches nobody faulted are paid when their dispute window closes.
 *
 * @example
 * ```ts
 * import { computeMarket, ComputeConfigSchema } from './src/services/compute/index.js'
 * const worker = await computeMarket.wire('worker', components, ComputeConfigSchema.parse({ workMarket: address }))
 * ```
 */
export {
  computeMarket, ComputeConfigSchema, ComputeWiringError, COMPUTE_ROLES, COMPUTE_CLIENT_BEHAVIOURS, PROFILE_180P_JPEG, profileByName,
  type ComputeRole, type ComputeConfig, type ComputeHandle, type ComputeWorkerHandle, type ComputeVerifierHandle, type ComputeClientHandle,
} from './market.js'
export { createComputeWorker, WORKER_BEHAVIOURS, type ComputeWorker, type WorkerBehaviour, type WorkerComponents, type WorkerOptions, type WorkerStats } from './worker.js'
export { createComputeVerifier, VERIFIER_BEHAVIOURS, type ComputeVerifier, type VerifierBehaviour, type VerifierComponents, type VerifierOptions, type VerifierStats } from './verifier.js'
export { createComputeClient, ComputeJobError, type ComputeClient, type ClientBehaviour as ComputeClientBehaviour, type ClientResult as ComputeClientResult, type Checker } from './client.js'
export { computeContract, deployWorkMarketContract, type ComputeChain, type OnChainJob, type OnChainBatch, type SettleResult } from './chain.js'
export { sqliteWorkerStore, type WorkerStore, type WorkerJob, type WorkerBatch } from './store.js'
export { termsHash as computeTermsHash, termsNonce as computeTermsNonce } from './terms.js'
export * from './protocol.js'
export * from './transcode.js'
