/**
 * A compute market in one process for tests and benchmarks: workers, verifiers and a client wired by
 * `computeMarket.wire` over the memory transport, on a chain the caller brings (with `WorkMarket` deployed), a
 * manual clock, in-memory SQLite; `blocks` mines one block at a time and ticks every role after each.
 *
 * @example
 * ```ts
 * const w = await computeWorld({ chain, deployment, workMarket, nextKey }, { worker: { behaviour: 'lazy' } })
 * await w.client.client.worked
 * await w.blocks(() => w.client.result().ended)
 * ```
 */
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { Chain } from '../../chain/types.js'
import { manualClock, systemClock } from '../../core/clock.js'
import { openDatabase } from '../../core/db.js'
import { memoryLogger } from '../../core/logger.js'
import { forkRng, seededRng } from '../../crypto/rng.js'
import { createMemoryNetwork } from '../../net/index.js'
import type { SoukDeployment } from '../../payments/deploy.js'
import type { RoleComponents } from '../market.js'
import { computeMarket, ComputeConfigSchema, type ComputeClientHandle, type ComputeConfig, type ComputeHandle, type ComputeVerifierHandle, type ComputeWorkerHandle } from './market.js'

export interface ComputeWorldEnv { chain: Chain; deployment: SoukDeployment; workMarket: Address; nextKey(): Hex; seed?: string }

/** Small jobs that end in a few dozen blocks: 8 units of 2 frames (160x90 to 80x45 JPEG), batches of 4, 2 checks each. */
export const COMPUTE_TEST_DEFAULTS: Partial<ComputeConfig> = {
  units: 8, framesPerUnit: 2, width: 160, height: 90, profile: '80x45:jpeg:80', batchUnits: 4, checksPerBatch: 2, challengeDelay: 2, disputeWindow: 6, responseWindow: 4, pollMs: 100,
}

export interface ComputeWorldOptions {
  worker?: Partial<ComputeConfig>
  /** One entry per verifier (default one honest verifier). */
  verifiers?: Partial<ComputeConfig>[]
  client?: Partial<ComputeConfig>
}

export async function computeWorld(env: ComputeWorldEnv, o: ComputeWorldOptions = {}) {
  const net = createMemoryNetwork()
  const clock = manualClock(systemClock().now())
  const log = memoryLogger() as ReturnType<typeof memoryLogger> & { entries: { level: string; scope: string; msg: string; fields?: Record<string, unknown> }[] }
  const events: { kind: string; [k: string]: unknown }[] = []
  const handles: ComputeHandle[] = []
  const seed = env.seed ?? 'compute-world'
  const base = { ...COMPUTE_TEST_DEFAULTS, workMarket: env.workMarket }
  const components = (name: string, key: Hex, bootstrap?: string): RoleComponents => ({
    transport: net.createTransport({ peerId: name }), clock, rng: forkRng(seededRng(seed), name), logger: log.child(name), bootstrap,
    onEvent: (e) => events.push({ ...e, name }),
    openDb: () => openDatabase(':memory:'),
    payments: { scheme: 'lottery', context: { chain: env.chain, deployment: env.deployment, key, clock, rng: forkRng(seededRng(`${seed}:pay`), name), logger: log.child(name) } },
  })
  const w = await computeMarket.wire('worker', components('worker', env.nextKey()), ComputeConfigSchema.parse({ ...base, ...o.worker })) as ComputeWorkerHandle
  handles.push(w)
  const vs: ComputeVerifierHandle[] = []
  for (const [i, v] of (o.verifiers ?? [{}]).entries()) {
    const key = env.nextKey()
    const h = await computeMarket.wire('verifier', components(`verifier-${i}`, key), ComputeConfigSchema.parse({ ...base, ...v })) as ComputeVerifierHandle
    vs.push(h)
    handles.push(h)
  }
  const checkers = vs.map((v, i) => ({ address: v.address, peer: `verifier-${i}` }))
  const clientKey = env.nextKey()
  const c = await computeMarket.wire('client', components('client', clientKey, 'worker'), ComputeConfigSchema.parse({ ...base, checkers, quorum: Math.ceil((vs.length + 1) / 2), ...o.client })) as ComputeClientHandle
  handles.push(c)
  return {
    net, clock, worker: w, verifiers: vs, client: c, clientAddress: privateKeyToAddress(clientKey).toLowerCase() as Address, log, events,
    /** Mines one block at a time, ticking the worker and the client, until `pred` holds or `max` blocks were mined; returns the count. */
    async blocks(pred: () => boolean, max = 200): Promise<number> {
      let n = 0
      while (!pred() && n < max) {
        await env.chain.dev!.mine(1)
        n++
        await w.worker.tick()
        await c.client.tick()
      }
      return n
    },
    async close() { for (const h of handles.reverse()) await h.stop().catch(() => {}) },
  }
}
export type ComputeWorld = Awaited<ComputeWorld_>
type ComputeWorld_ = ReturnType<typeof computeWorld>
