/**
 * The chain of a simulated run: the real embedded EVM (hardhat's EDR, the contracts compiled by solc) with its time
 * driven by the simulated clock.
 *
 * - Every request goes through one queue, in the order the roles made them, and is handed to the engine as external
 *   work (`engine.external`): simulated time stands still while the EVM computes, and the answers come back in a
 *   fixed order. The EVM mines a block per transaction (automine), so a role's receipt is there when it asks.
 * - Block time follows the clock: before anything that mines, the next block's timestamp is set to the simulated
 *   time (at least one second after the last block), and an empty block is mined every `blockTimeMs` of simulated
 *   time, so draws from future blocks and expiries move with the run. The genesis date is fixed, so block hashes
 *   are a function of the run alone.
 * - The EVM, the contracts and the funded keys are made once per thread (per number of keys and market) and deployed once;
 *   each run starts from a snapshot taken after the deployment, so a run on a fresh chain and a run after a
 *   hundred others see the same blocks and give the same event log.
 *
 * @example
 * ```ts
 * import { createEngine } from './src/sim/engine.js'
 * import { simEvm } from './src/sim/chain.js'
 * const engine = createEngine()
 * const sim = await simEvm({ engine, keys: 4 })
 * const stop = sim.startBlocks(2_000)
 * await engine.run({ until: 10_000 })
 * stop()
 * console.log(await sim.chain.blockNumber()) // deployment blocks + 5
 * await sim.release()
 * ```
 */
import type { Hex } from 'viem'
import { chainFromProvider } from '../chain/chain.js'
import { createEmbeddedProvider } from '../chain/embedded.js'
import type { Chain, Eip1193Provider } from '../chain/types.js'
import { deploySouk, type SoukDeployment } from '../payments/deploy.js'
import type { Engine } from './engine.js'
import { ModelProvider } from './model-chain.js'
import { SIM_MARKETS } from './markets/index.js'

/**
 * The run's market's own contracts (StorageMarket, WorkMarket...), deployed after Souk's. Only that market's: a CDN
 * run's chain holds exactly what a CDN deployment holds, so its blocks and event log do not depend on other markets.
 */
async function deployMarkets(chain: Chain, key: Hex, deployment: SoukDeployment, market: string): Promise<Record<string, Record<string, unknown>>> {
  const m = SIM_MARKETS[market]
  return m?.deploy ? { [market]: await m.deploy(chain, key, deployment) } : {}
}

/** The genesis time of every simulated chain (2026-01-01T00:00:00Z): block hashes repeat from run to run. */
export const SIM_GENESIS = new Date(Date.UTC(2026, 0, 1))
const GENESIS_SECONDS = BigInt(SIM_GENESIS.getTime() / 1000)
const MINING = new Set(['eth_sendRawTransaction', 'eth_sendTransaction', 'evm_mine'])

export interface SimChain {
  /** The chain handle the roles get (viem clients over the queued, clocked provider). */
  readonly chain: Chain
  readonly deployment: SoukDeployment
  /** Funded keys: [0] deployed the contracts; the run hands out the others. */
  readonly keys: readonly Hex[]
  /** Mines an empty block every `ms` of simulated time until the returned function is called. */
  startBlocks(ms: number): () => void
  /** The config entries of `market`'s contracts (its `SimMarket.deploy`), deployed with the others. */
  marketConfig(market: string): Record<string, unknown>
  /** Chain requests made in this run, and blocks mined by the clock. */
  stats(): { requests: number; blocksMined: number }
  /** Ends the run's use of the chain (the EVM stays for the next run in this process). */
  release(): Promise<void>
}

interface Base {
  inner: Eip1193Provider
  keys: Hex[]
  deployment: SoukDeployment
  snapshot: Hex
  /** Whether a run holds it now (runs in one process take turns). */
  busy: boolean
  /** The timestamp of the snapshot's head block. */
  headTs: bigint
  markets: Record<string, Record<string, unknown>>
}

const bases = new Map<string, Promise<Base>>()

/** A provider that stamps every mined block with `nowSeconds()` (at least 1 s after the last). */
function stamping(inner: Eip1193Provider, state: { lastTs: bigint; nowMs: () => number }): Eip1193Provider {
  return {
    async request(a) {
      if (MINING.has(a.method) || a.method === 'hardhat_mine') {
        const want = GENESIS_SECONDS + BigInt(Math.floor(state.nowMs() / 1000))
        const ts = want > state.lastTs ? want : state.lastTs + 1n
        await inner.request({ method: 'evm_setNextBlockTimestamp', params: [`0x${ts.toString(16)}`] })
        state.lastTs = ts
        if (a.method === 'hardhat_mine') {
          const n = BigInt((a.params as string[] | undefined)?.[0] ?? '0x1')
          state.lastTs = ts + (n > 0n ? n - 1n : 0n)
        }
      }
      return inner.request(a)
    },
  }
}

async function makeBase(keyCount: number, market: string): Promise<Base> {
  const inner = await createEmbeddedProvider({ accounts: keyCount, seed: 'souk-sim', initialDate: SIM_GENESIS })
  const state = { lastTs: GENESIS_SECONDS, nowMs: () => 0 }
  const p = stamping(inner, state)
  const chain = await chainFromProvider(p, { kind: 'embedded', devKeys: inner.keys, dev: true, now: () => 0 })
  const deployment = await deploySouk(chain, inner.keys[0])
  const markets = await deployMarkets(chain, inner.keys[0], deployment, market)
  const snapshot = (await inner.request({ method: 'evm_snapshot' })) as Hex
  return { inner, keys: inner.keys, deployment, snapshot, busy: false, headTs: state.lastTs, markets }
}

/**
 * A run's view of its chain: `send` behind a provider that counts requests and refuses them once the run released
 * the chain, and an empty block mined every `ms` of simulated time (`startBlocks`) until its stop function is called.
 */
function runView(engine: Engine, send: (a: Parameters<Eip1193Provider['request']>[0]) => Promise<unknown>) {
  let requests = 0
  let blocksMined = 0
  let released = false
  const provider: Eip1193Provider = {
    request(a) {
      if (released) return Promise.reject(new Error(`the simulated chain was released (a ${a.method} after the run ended)`))
      requests++
      return send(a)
    },
  }
  return {
    provider,
    startBlocks(ms: number): () => void {
      let cancel = () => {}
      const tick = () => { blocksMined++; void provider.request({ method: 'evm_mine' }).catch(() => {}); cancel = engine.after(ms, tick) }
      cancel = engine.after(ms, tick)
      return () => cancel()
    },
    stats: () => ({ requests, blocksMined }),
    resetRequests: () => { requests = 0 },
    released: () => released,
    release: () => { released = true },
  }
}

/** Keys are made in powers of two (at least 32), so runs of similar size share one EVM. */
const keyBucket = (n: number) => Math.max(32, 2 ** Math.ceil(Math.log2(Math.max(1, n))))

/**
 * The real EVM for one run on `engine`, with at least `keys` funded keys besides the deployer's. Runs in one process
 * take turns on the EVM of their size: a second concurrent run waits for `release`.
 */
export async function simEvm(opts: { engine: Engine; keys: number; market?: string }): Promise<SimChain> {
  const n = keyBucket(opts.keys + 1)
  const market = opts.market ?? 'cdn'
  const id = `${n}:${market}`
  let baseP = bases.get(id)
  if (!baseP) { baseP = makeBase(n, market); bases.set(id, baseP); baseP.catch(() => bases.delete(id)) }
  const base = await baseP
  while (base.busy) await new Promise((r) => setImmediate(r))
  base.busy = true
  // Back to the state right after the deployment, and a fresh snapshot for the next run (a snapshot is used once).
  const ok = await base.inner.request({ method: 'evm_revert', params: [base.snapshot] })
  if (ok !== true) { base.busy = false; throw new Error('the simulated chain could not return to its deployment snapshot') }
  base.snapshot = (await base.inner.request({ method: 'evm_snapshot' })) as Hex
  const { engine } = opts
  const state = { lastTs: base.headTs, nowMs: () => engine.now() }
  const stamped = stamping(base.inner, state)
  let queue: Promise<unknown> = Promise.resolve()
  const view = runView(engine, (a) => {
    const p = queue.then(() => stamped.request(a))
    queue = p.catch(() => {})
    return engine.external(p)
  })
  const provider = view.provider
  const chain = await chainFromProvider(provider, { kind: 'embedded', devKeys: base.keys, dev: true, now: () => engine.now() })
  return {
    chain,
    deployment: base.deployment,
    keys: base.keys,
    marketConfig: (m) => base.markets[m] ?? {},
    startBlocks: view.startBlocks,
    stats: view.stats,
    async release() {
      if (view.released()) return
      await queue
      view.release()
      base.busy = false
    },
  }
}

/**
 * The model-backed chain for one run on `engine` (src/sim/model-chain.ts: the token and TicketBroker in TypeScript,
 * gas as the EVM meters it): no EVM process and no thread, for runs too large for the real one. Made and deployed
 * fresh for each run; its blocks follow the clock as the EVM's do.
 */
export async function simModelChain(opts: { engine: Engine; keys: number; market?: string }): Promise<SimChain> {
  const { engine } = opts
  const provider = new ModelProvider({ accounts: keyBucket(opts.keys + 1), seed: 'souk-sim', now: () => engine.now() })
  const view = runView(engine, (a) => provider.request(a))
  const counted = view.provider
  const chain = await chainFromProvider(counted, { kind: 'embedded', devKeys: provider.keys, dev: true, now: () => engine.now() })
  const deployment = await deploySouk(chain, provider.keys[0])
  const markets = await deployMarkets(chain, provider.keys[0], deployment, opts.market ?? 'cdn')
  view.resetRequests() // the run's requests, as on the EVM (whose deployment is in its snapshot)
  return {
    chain, deployment, keys: provider.keys,
    marketConfig: (m) => markets[m] ?? {},
    startBlocks: view.startBlocks,
    stats: view.stats,
    async release() { view.release() },
  }
}
