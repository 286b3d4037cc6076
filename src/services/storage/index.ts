/**
 * The storage market (docs/storage.md): a client makes a deal with a provider through the market, escrows the
 * price of its periods on chain and uploads paying per chunk; the provider locks collateral, proves every period
 * with a Merkle multi-proof the contract checks against challenges drawn from the chain, and is paid per proven
 * period; a missed or failed period slashes its collateral to the client; retrieval is paid per chunk and verified.
 *
 * @example
 * ```ts
 * import { storageMarket, StorageConfigSchema } from './src/services/storage/index.js'
 * const provider = await storageMarket.wire('provider', components, StorageConfigSchema.parse({ storageMarket: address }))
 * ```
 */
export {
  storageMarket, StorageConfigSchema, StorageWiringError, STORAGE_ROLES, STORAGE_PROVIDER_BEHAVIOURS, STORAGE_CLIENT_BEHAVIOURS,
  type StorageRole, type StorageConfig, type StorageHandle, type StorageProviderHandle, type StorageClientHandle,
} from './market.js'
export { createStorageProvider, type StorageProvider, type ProviderBehaviour, type ProviderComponents, type ProviderOptions, type ProviderStats } from './provider.js'
export { createStorageClient, StorageDealError, type StorageClient, type ClientBehaviour, type ClientComponents, type ClientOptions, type ClientResult } from './client.js'
export { storageContract, deployStorageMarketContract, type StorageChain, type OnChainDeal, type PeriodState, type DealState, type ProofEntry, type ProveResult } from './chain.js'
export { sqliteProviderStore, type ProviderStore, type ProviderDeal, type ProviderDealState } from './store.js'
export { termsHash, termsNonce, pricePerPeriod, dealUnits, chunkCount, chunkPositions, dataChunk, MIB } from './terms.js'
export * from './protocol.js'
export * from './contract.js'
