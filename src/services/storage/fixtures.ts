/**
 * A storage market in one process for tests and benchmarks: a provider and a client wired by
 * `storageMarket.wire` over the memory transport, on a chain the caller brings (with `StorageMarket` deployed), a
 * manual clock, in-memory SQLite; `blocks` mines one block at a time and ticks both roles after each.
 *
 * @example
 * ```ts
 * const w = await storageWorld({ chain, deployment, storageMarket, nextKey }, { behaviour: 'drop' })
 * await w.client.client.stored
 * await w.blocks(() => w.client.result().ended)
 * ```
 */
import type { Address, Hex } from 'viem'
import type { Chain } from '../../chain/types.js'
import { manualClock, systemClock } from '../../core/clock.js'
import { openDatabase } from '../../core/db.js'
import { memoryLogger } from '../../core/logger.js'
import { forkRng, seededRng } from '../../crypto/rng.js'
import { createMemoryNetwork } from '../../net/index.js'
import type { SoukDeployment } from '../../payments/deploy.js'
import type { RoleComponents } from '../market.js'
import { storageMarket, StorageConfigSchema, type StorageClientHandle, type StorageConfig, type StorageHandle, type StorageProviderHandle } from './market.js'

export interface StorageWorldEnv { chain: Chain; deployment: SoukDeployment; storageMarket: Address; nextKey(): Hex; seed?: string }

/** Small deals that end in a few dozen blocks: 4 periods of 6 blocks, windows of 4, 8 challenges, 2 replicas. */
export const STORAGE_TEST_DEFAULTS: Partial<StorageConfig> = { contentBytes: 6_000, chunkSize: 1024, periods: 4, periodBlocks: 6, windowBlocks: 4, minPeriodBlocks: 4, challenges: 8, replicas: 2, pollMs: 100 }

export async function storageWorld(env: StorageWorldEnv, provider: Partial<StorageConfig> = {}, client: Partial<StorageConfig> = {}) {
  const net = createMemoryNetwork()
  const clock = manualClock(systemClock().now())
  const log = memoryLogger() as ReturnType<typeof memoryLogger> & { entries: { level: string; scope: string; msg: string; fields?: Record<string, unknown> }[] }
  const events: { kind: string; [k: string]: unknown }[] = []
  const handles: StorageHandle[] = []
  const seed = env.seed ?? 'storage-world'
  const base = { ...STORAGE_TEST_DEFAULTS, storageMarket: env.storageMarket }
  const components = (name: string, key: Hex, bootstrap?: string): RoleComponents => ({
    transport: net.createTransport({ peerId: name }), clock, rng: forkRng(seededRng(seed), name), logger: log.child(name), bootstrap,
    onEvent: (e) => events.push({ ...e, name }),
    openDb: () => openDatabase(':memory:'),
    payments: { scheme: 'lottery', context: { chain: env.chain, deployment: env.deployment, key, clock, rng: forkRng(seededRng(`${seed}:pay`), name), logger: log.child(name) } },
  })
  const p = await storageMarket.wire('provider', components('provider', env.nextKey()), StorageConfigSchema.parse({ ...base, ...provider })) as StorageProviderHandle
  handles.push(p)
  const c = await storageMarket.wire('client', components('client', env.nextKey(), 'provider'), StorageConfigSchema.parse({ ...base, ...client })) as StorageClientHandle
  handles.push(c)
  return {
    net, clock, provider: p, client: c, log, events,
    /** Mines one block at a time, ticking both roles, until `pred` holds or `max` blocks were mined; returns the count. */
    async blocks(pred: () => boolean, max = 200): Promise<number> {
      let n = 0
      while (!pred() && n < max) {
        await env.chain.dev!.mine(1)
        n++
        await p.provider.tick()
        await c.client.tick()
      }
      return n
    },
    async close() { for (const h of handles.reverse()) await h.stop().catch(() => {}) },
  }
}
export type StorageWorld = Awaited<ReturnType<typeof storageWorld>>
