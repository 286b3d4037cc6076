/**
 * The CDN market (docs/cdn.md): a publisher hires caches to deliver its content to clients and pays them per
 * chunk, with CAPnet puzzles so a cache colluding with a client cannot claim service that never happened.
 *
 * @example
 * ```ts
 * import { cdnMarket } from './src/services/cdn/index.js'
 * const client = await cdnMarket.wire('client', components, cdnMarket.configSchema.parse({}))
 * ```
 */
export * from './types.js'
export {
  cdnMarket, CdnConfigSchema, CdnWiringError, CDN_ROLES, CDN_BEHAVIOURS, CDN_DEFAULT_PRICE_PER_CHUNK, CDN_DEFAULT_DEPOSIT, CDN_DEFAULT_RESERVE, makeContent, contentDigest,
  type CdnRole, type CdnConfig, type CdnHandle, type CdnPublisherHandle, type CdnCacheHandle, type CdnClientHandle,
} from './market.js'
export * from './protocol.js'
export { createPublisher, type Publisher, type PublisherComponents, type PublisherOptions } from './publisher.js'
export { createCache, type Cache, type CacheComponents, type CacheOptions } from './cache.js'
export { createClient, CdnClientError, type Client, type ClientComponents, type ClientOptions } from './client.js'
export { memoryChunkStore, sqliteChunkStore, type ChunkStore } from './store.js'
