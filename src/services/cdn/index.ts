/**
 * The CDN market (docs/cdn.md): a publisher hires caches to deliver its content to clients and pays them per
 * chunk, with CAPnet puzzles so a cache colluding with a client cannot claim service that never happened.
 *
 * @example
 * ```ts
 * import { createPublisher, createCache, createClient, memoryChunkStore } from './src/services/cdn/index.js'
 * ```
 */
export * from './types.js'
export * from './protocol.js'
export { createPublisher, type Publisher, type PublisherComponents, type PublisherOptions } from './publisher.js'
export { createCache, type Cache, type CacheComponents, type CacheOptions } from './cache.js'
export { createClient, CdnClientError, type Client, type ClientComponents, type ClientOptions } from './client.js'
export { memoryChunkStore, sqliteChunkStore, type ChunkStore } from './store.js'
