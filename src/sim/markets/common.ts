/** What the markets' simulator adapters share: money in price units, the model-chain refusal, round-robin joining. */
import { SimError } from '../engine.js'
import type { RunnableScenario, SimPeer } from '../types.js'

export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
/** Token units as a number of price units (the unit of every money metric), to a millionth. */
export const units = (x: bigint | undefined, unit: bigint) => (x === undefined ? 0 : Number((x * 1_000_000n) / unit) / 1_000_000)
/** A bigint from a stats field (bigint, number or decimal string), 0 otherwise. */
export const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : typeof v === 'number' || typeof v === 'string' ? BigInt(v) : 0n)

/** The model-backed chain does not model StorageMarket or WorkMarket: such a run fails at once, saying so. */
export function refuseModelChain(s: RunnableScenario): void {
  if (s.chain?.kind === 'model') {
    throw new SimError(`The ${s.market} market does not run on the model-backed chain (it does not model the ${s.market === 'storage' ? 'StorageMarket' : 'WorkMarket'} contract)`, {
      code: 'SIM_CHAIN', hints: ['set `chain: { kind: evm }` in the scenario'],
    })
  }
}

/** A `bootstrapOf` for markets whose clients each join one server: the i-th client the (i mod servers)-th server. */
export function roundRobin(clientRole: string, serverRole: string) {
  return (p: SimPeer, peers: readonly SimPeer[]): string | undefined => {
    if (p.role !== clientRole) return undefined
    const servers = peers.filter((q) => q.role === serverRole)
    const i = peers.filter((q) => q.role === clientRole).indexOf(p)
    return servers[i % servers.length]!.transport.addresses()[0]
  }
}
