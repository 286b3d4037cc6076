/**
 * Watches a chain for the dashboard, cheaply: every `intervalMs` it asks for the latest block number, then for each
 * new block one `eth_getBlockByNumber` (its transaction count and gas used) and for the whole new range one
 * `eth_getLogs`, decoded against every Souk contract's ABI. It reports `chain-block` and `chain-log` events
 * (amounts as decimal strings) to `onEvent`, the same way testnet events reach the dashboard's state.
 *
 * @example
 * ```ts
 * import { watchChain } from './chain-watch.js'
 * const w = watchChain(chain, { onEvent: (e) => state.apply(e, Date.now()), fromBlock: 0n })
 * // ... later
 * await w.stop()
 * ```
 */
import { parseEventLogs, toEventSelector, type Abi, type Hex } from 'viem'
import {
  ConcurrentLotteryAbi, MarketDealsAbi, PaymentChannelAbi, SoukTokenAbi, StorageMarketAbi, TicketBrokerAbi, WorkMarketAbi,
} from '../../artifacts/contracts.js'
import type { Chain } from '../chain/types.js'

/** Every Souk contract by name: the ABIs logs are decoded with. */
export const WATCHED_ABIS: Record<string, Abi> = {
  SoukToken: SoukTokenAbi as Abi, TicketBroker: TicketBrokerAbi as Abi, PaymentChannel: PaymentChannelAbi as Abi, ConcurrentLottery: ConcurrentLotteryAbi as Abi,
  StorageMarket: StorageMarketAbi as Abi, WorkMarket: WorkMarketAbi as Abi, MarketDeals: MarketDealsAbi as Abi,
}

export interface ChainWatchOptions {
  onEvent: (e: Record<string, unknown>) => void
  /** The first block to report (default: the latest block when the watch starts). */
  fromBlock?: bigint
  /** Default 1000 ms. */
  intervalMs?: number
  /** At most this many blocks read per poll (default 64); the rest on the next polls. */
  maxBlocksPerPoll?: number
  /** Contract names by address (lower case), for events more than one contract declares. */
  contracts?: () => Record<string, string>
  /** A failed poll (the chain stopped answering); polling goes on. */
  onError?: (e: unknown) => void
}

export interface ChainWatch {
  /** Polls once now (tests); resolves when that poll is done. */
  poll(): Promise<void>
  stop(): Promise<void>
}

const plain = (v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : Array.isArray(v) ? v.map(plain) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v)

export function watchChain(chain: Chain, o: ChainWatchOptions): ChainWatch {
  const every = o.intervalMs ?? 1000
  const maxBlocks = BigInt(o.maxBlocksPerPoll ?? 64)
  // Which contract declares an event (the first one listed when several do: the address decides then).
  const ownerOf = new Map<string, string>()
  const all: Abi[number][] = []
  for (const [name, abi] of Object.entries(WATCHED_ABIS)) {
    for (const item of abi) {
      if (item.type !== 'event') continue
      const sel = toEventSelector(item)
      if (!ownerOf.has(sel)) { ownerOf.set(sel, name); all.push(item) }
    }
  }
  let next: bigint | undefined = o.fromBlock
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let running: Promise<void> = Promise.resolve()

  async function pollOnce(): Promise<void> {
    const latest = await chain.blockNumber()
    if (next === undefined) next = latest
    if (latest < next) return
    const to = latest - next + 1n > maxBlocks ? next + maxBlocks - 1n : latest
    for (let b = next; b <= to && !stopped; b++) {
      const block = await chain.public.getBlock({ blockNumber: b })
      o.onEvent({ kind: 'chain-block', number: Number(b), transactions: block.transactions.length, gasUsed: block.gasUsed.toString(), timestamp: Number(block.timestamp) })
    }
    if (stopped) return
    const logs = await chain.public.getLogs({ fromBlock: next, toBlock: to })
    const names = o.contracts?.() ?? {}
    for (const l of parseEventLogs({ abi: all, logs, strict: false })) {
      const address = l.address.toLowerCase()
      const contract = names[address] ?? ownerOf.get(l.topics[0] as Hex) ?? 'unknown'
      o.onEvent({ kind: 'chain-log', block: Number(l.blockNumber), tx: l.transactionHash, address, contract, event: l.eventName, args: plain(l.args) })
    }
    next = to + 1n
  }
  const loop = () => {
    if (stopped) return
    running = pollOnce().catch((e) => o.onError?.(e)).finally(() => { if (!stopped) timer = setTimeout(loop, every) })
  }
  timer = setTimeout(loop, 0)
  return {
    async poll() { await running; await pollOnce() },
    async stop() { stopped = true; if (timer) clearTimeout(timer); await running.catch(() => {}) },
  }
}
