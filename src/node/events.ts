/**
 * A deployment's contracts by name, and their events decoded (`souk events`; the testnet's gas table uses the
 * names too). A deployment is the `deployment.json` a testnet writes: the token, each payment scheme's contracts,
 * and, for the storage and compute testnets, `storageMarket` / `workMarket` beside them.
 *
 * @example
 * ```ts
 * import { deploymentEvents } from './events.js'
 * for (const e of await deploymentEvents(chain, deployment, { fromBlock: 0n })) console.log(e.block, e.contract, e.event, e.args)
 * ```
 */
import { parseEventLogs, type Abi, type Address, type Hex, type Log } from 'viem'
import { abis } from '../chain/index.js'
import type { Chain } from '../chain/types.js'

/** One contract of a deployment: its name (the Solidity contract's) and ABI. */
export interface NamedContract { name: string; address: Address; abi: Abi }

const BY_KEY: Record<string, [string, Abi]> = {
  ticketBroker: ['TicketBroker', abis.TicketBrokerAbi as Abi],
  paymentChannel: ['PaymentChannel', abis.PaymentChannelAbi as Abi],
  concurrentLottery: ['ConcurrentLottery', abis.ConcurrentLotteryAbi as Abi],
  marketDeals: ['MarketDeals', abis.MarketDealsAbi as Abi],
  storageMarket: ['StorageMarket', abis.StorageMarketAbi as Abi],
  workMarket: ['WorkMarket', abis.WorkMarketAbi as Abi],
}

/** Every contract a deployment names, by lower-case address. Unknown keys are skipped. */
export function deploymentContracts(d: { token?: string; contracts?: unknown; [k: string]: unknown }): Map<string, NamedContract> {
  const m = new Map<string, NamedContract>()
  const add = (name: string, address: unknown, abi: Abi) => {
    if (typeof address === 'string' && /^0x[0-9a-fA-F]{40}$/.test(address)) m.set(address.toLowerCase(), { name, address: address as Address, abi })
  }
  add('SoukToken', d.token, abis.SoukTokenAbi as Abi)
  const visit = (o: unknown) => {
    if (!o || typeof o !== 'object') return
    for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
      const hit = BY_KEY[k]
      if (hit) add(hit[0], v, hit[1])
      else if (k !== 'token' && v && typeof v === 'object') visit(v)
    }
  }
  visit(d.contracts)
  // Market testnets put their contract beside the scheme contracts.
  for (const k of Object.keys(BY_KEY)) if (k in d) add(BY_KEY[k]![0], d[k], BY_KEY[k]![1])
  return m
}

/** One decoded event. */
export interface DecodedEvent { block: bigint; tx: Hex; logIndex: number; contract: string; address: Address; event: string; args: Record<string, unknown> }

/**
 * The events of every contract of `deployment` in [fromBlock, toBlock], decoded with their ABIs, in chain order.
 * A log a contract's ABI does not describe is kept with `event: 'unknown'` (its topics and data in `args`).
 */
export async function deploymentEvents(chain: Chain, deployment: Parameters<typeof deploymentContracts>[0], o: { fromBlock?: bigint; toBlock?: bigint; contract?: string; event?: string } = {}): Promise<DecodedEvent[]> {
  const contracts = [...deploymentContracts(deployment).values()].filter((c) => !o.contract || c.name.toLowerCase() === o.contract.toLowerCase())
  const out: DecodedEvent[] = []
  for (const c of contracts) {
    const logs = await chain.public.getLogs({ address: c.address, fromBlock: o.fromBlock ?? 0n, toBlock: o.toBlock ?? 'latest' })
    const decoded = parseEventLogs({ abi: c.abi, logs: logs as Log[], strict: false })
    const known = new Set(decoded.map((l) => `${l.transactionHash}:${l.logIndex}`))
    for (const l of decoded) out.push({ block: l.blockNumber!, tx: l.transactionHash!, logIndex: l.logIndex!, contract: c.name, address: c.address, event: l.eventName, args: (l.args ?? {}) as Record<string, unknown> })
    for (const l of logs) if (!known.has(`${l.transactionHash}:${l.logIndex}`)) out.push({ block: l.blockNumber!, tx: l.transactionHash!, logIndex: l.logIndex!, contract: c.name, address: c.address, event: 'unknown', args: { topics: l.topics, data: l.data } })
  }
  return out
    .filter((e) => !o.event || e.event.toLowerCase() === o.event.toLowerCase())
    .sort((a, b) => (a.block === b.block ? a.logIndex - b.logIndex : a.block < b.block ? -1 : 1))
}

/** One line a person reads: block, contract.event and its arguments (addresses and hashes shortened). */
export function formatEvent(e: DecodedEvent): string {
  const short = (v: unknown): string => {
    if (typeof v === 'bigint') return v.toString()
    if (typeof v === 'string' && /^0x[0-9a-fA-F]{41,}$/.test(v)) return `${v.slice(0, 10)}…${v.slice(-4)}`
    if (Array.isArray(v)) return `[${v.map(short).join(', ')}]`
    return String(v)
  }
  return `block ${String(e.block).padStart(6)}  ${`${e.contract}.${e.event}`.padEnd(36)} ${Object.entries(e.args).map(([k, v]) => `${k}=${short(v)}`).join(' ')}`
}
