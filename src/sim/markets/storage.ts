/**
 * The storage market in the simulator: providers join first, then the clients, each bootstrapped to a provider
 * (round-robin by index, so every provider gets clients); `StorageMarket` deployed with the chain's snapshot; deals
 * sized so a run is a few periods of a few blocks; metrics from the roles' final stats (money in units of the
 * provider's `unitPrice`, one MiB of one replica for one period; `attacker*` over the peers of `attacker: true`
 * groups).
 *
 * A party's value: what it was paid less what it paid and lost. A provider: what it withdrew from the contract
 * (proven periods' prices and its collateral back) less the collateral it locked, plus the per-chunk payments it
 * accepted (lottery: expected value, less winners lost), less `economics.servePerChunk` × the units it kept stored
 * (a unit is one MiB-replica-period; a `drop` provider keeps 1 − dropFraction of them). A client: what it withdrew
 * (refunds and slashed collateral) less the escrow it paid and its per-chunk payments.
 */
import type { Address } from 'viem'
import type { PayeeStats } from '../../payments/types.js'
import type { ServiceEvent } from '../../services/market.js'
import { deployStorageMarketContract } from '../../services/storage/chain.js'
import type { ClientResult } from '../../services/storage/client.js'
import type { ProviderStats } from '../../services/storage/provider.js'
import { dealUnits } from '../../services/storage/terms.js'
import { SIM_GENESIS } from '../chain.js'
import { SimError } from '../engine.js'
import type { FinishedRun, Metrics, SimMarket, SimPeer } from '../types.js'

import { big, refuseModelChain, roundRobin, sum, units } from './common.js'


type Stop = ServiceEvent & { stats?: unknown; payments?: PayeeStats; error?: string }

export function storageMetrics(f: FinishedRun): Metrics {
  const m: Metrics = {}
  const clients = f.peers.filter((p) => p.role === 'client' && !p.group.idle)
  const providers = f.peers.filter((p) => p.role === 'provider')
  const stop = (p: SimPeer) => f.stops.get(p.name) as Stop | undefined
  const pstats = (p: SimPeer) => (stop(p)?.stats ?? {}) as Partial<ProviderStats>
  const cres = (p: SimPeer) => (stop(p)?.stats ?? {}) as Partial<ClientResult>
  const by = (kind: string, peer?: string) => f.events.filter((e) => e.kind === kind && (peer === undefined || e.peer === peer))
  // Deals as the providers signed and activated them: who holds which, its size and collateral.
  const signed = new Map(by('deal-signed').map((e) => [String(e.dealId), e]))
  const active = by('deal-active')
  const holder = new Map([...signed.values()].map((e) => [String(e.dealId), String(e.peer)]))
  const offering = new Map(by('offering').map((e) => [String(e.peer), e]))

  m.clients = clients.length
  m.clientsOk = clients.filter((p) => { const r = cres(p); return r.ended === true && !stop(p)?.error }).length
  m.clientsFailed = m.clients - m.clientsOk
  m.deals = by('deal-opened').length
  m.dealsActive = active.length
  m.periodsProven = sum(providers.map((p) => pstats(p).periodsProven ?? 0))
  m.periodsFaulted = sum(clients.map((p) => cres(p).periodsFaulted ?? 0))
  m.periodsSkipped = sum(providers.map((p) => pstats(p).periodsSkipped ?? 0))
  m.faultsCalled = sum(clients.map((p) => cres(p).faultsCalled ?? 0))
  m.proofTransactions = sum(providers.map((p) => pstats(p).proofTransactions ?? 0))
  m.proofGas = sum(providers.map((p) => Number(pstats(p).proofGas ?? 0n)))
  m.bytesStored = sum(providers.map((p) => pstats(p).bytesStored ?? 0))
  m.chunksUploaded = sum(providers.map((p) => pstats(p).chunksUploaded ?? 0))
  m.retrievalChunksServed = sum(providers.map((p) => pstats(p).retrievalChunksServed ?? 0))
  m.retrievalsOk = by('retrieved').filter((e) => e.ok === true).length
  m.retrievalsFailed = by('retrieved').filter((e) => e.ok !== true).length
  m.bytesRetrieved = sum(by('retrieved').filter((e) => e.ok === true).map((e) => Number(signed.get(String(e.dealId))?.bytes ?? 0)))

  // Faults per deal (each one slashes the period's collateral share, collateral / periods, to the client).
  const faultsOf = new Map<string, number>()
  for (const p of clients) { const r = cres(p); if (r.dealId) faultsOf.set(r.dealId, r.periodsFaulted ?? 0) }
  const activeIds = new Set(active.map((e) => String(e.dealId)))
  const lockedBy = (p: SimPeer) => sum([...activeIds].filter((id) => holder.get(id) === p.name).map((id) => Number(big(signed.get(id)!.collateral))))
  const slashedOf = (p: SimPeer) => [...activeIds].filter((id) => holder.get(id) === p.name).reduce((a, id) => {
    const e = signed.get(id)!
    return a + (big(e.collateral) / BigInt(Number(e.periods))) * BigInt(faultsOf.get(id) ?? 0)
  }, 0n)
  m.slashes = m.periodsFaulted
  m.collateralLost = sum(providers.map((p) => units(slashedOf(p), f.unit)))

  // Values, in unit prices.
  const paidValue = (p: SimPeer) => {
    const pay = stop(p)?.payments
    if (!pay) return 0
    return f.scheme === 'lottery' ? units(pay.credited, f.unit) - (pay.lostCount ?? 0) * units(pay.faceValue, f.unit) : units(pay.received, f.unit)
  }
  const keptUnits = (p: SimPeer) => {
    const o = offering.get(p.name)
    const kept = o?.behaviour === 'drop' ? 1 - Number(o.dropFraction ?? 0) : 1
    return sum([...activeIds].filter((id) => holder.get(id) === p.name).map((id) => {
      const e = signed.get(id)!
      return Number(dealUnits(Number(e.bytes), Number(e.replicas), Number(e.periods))) * kept
    }))
  }
  const providerValue = (p: SimPeer) => units(pstats(p).earned, f.unit) - units(BigInt(lockedBy(p)), f.unit) + paidValue(p) - f.servePerChunk * keptUnits(p)
  const escrowOf = (p: SimPeer) => {
    const opened = by('deal-opened', p.name)[0]
    return opened ? big(opened.pricePerPeriod) * BigInt(Number(opened.periods)) : 0n
  }
  const clientValue = (p: SimPeer) => {
    const r = cres(p)
    return units(r.withdrawn, f.unit) - units(escrowOf(p), f.unit) - units((r.uploadPaid ?? 0n) + (r.retrieved?.paid ?? 0n), f.unit)
  }
  const value = (p: SimPeer) => (p.role === 'provider' ? providerValue(p) : p.role === 'client' && !p.group.idle ? clientValue(p) : 0)
  const attackers = f.peers.filter((p) => p.group.attacker)
  m.attackers = attackers.length
  m.attackerValue = sum(attackers.map(value))
  m.victimValue = sum(f.peers.filter((p) => !p.group.attacker).map(value))
  m.attackerSlashed = sum(attackers.filter((p) => p.role === 'provider').map((p) => units(slashedOf(p), f.unit)))
  m.honestProviderValue = sum(providers.filter((p) => !p.group.attacker).map(providerValue))
  m.clientValue = sum(clients.map(clientValue))

  // Caught: a fault (missed or bad proof) on a deal an attacker holds, or a client of the coalition's fault named.
  const names = new Set(attackers.flatMap((p) => [p.name, p.transport.peerId, ...(stop(p)?.payee ? [String(stop(p)!.payee).toLowerCase()] : [])]))
  const attackerDeal = (id: unknown) => names.has(holder.get(String(id)) ?? '')
  const caught = f.events.filter((e) => (e.kind === 'fault-called' || e.kind === 'period-faulted') && attackerDeal(e.dealId))
  m.caughtEvents = caught.length
  m.caught = caught.length > 0 ? 1 : 0
  return m
}

export const storageSim: SimMarket = {
  finiteRoles: ['client'],
  joinOrder: ['provider', 'client'],
  check(peers) {
    if (!peers.some((p) => p.role === 'provider')) throw new SimError('A storage scenario needs a provider', { code: 'SIM_TOPOLOGY', hints: ['add a group `{ role: provider }`'] })
  },
  bootstrapOf: roundRobin('client', 'provider'),
  async deploy(chain, key, deployment) {
    return { storageMarket: (await deployStorageMarketContract(chain, key, deployment.token)).toLowerCase() as Address }
  },
  defaults(s, _peers, p) {
    refuseModelChain(s)
    const blockMs = s.chain?.blockTimeMs ?? 2_000
    return {
      // A deal of 3 periods of 16 blocks, proven in a window of 8 (every transaction mines a block too, so a busy
      // chain runs through a window faster than the clock's blocks): at most about 100 s of simulated time.
      periods: 3, periodBlocks: 16, windowBlocks: 8, minPeriodBlocks: 2, minWindowBlocks: 2, activateWithinBlocks: 100,
      // Roles count time from the run's start, the chain's blocks from its genesis date: deal times (checked on chain
      // against the block time) need the chain's origin.
      clockOffsetMs: SIM_GENESIS.getTime(),
      retrieveAfterPeriods: 1, pollMs: Math.max(20, Math.min(250, Math.round(blockMs / 8))), contentSeed: p.name,
      ...(s.content?.bytes !== undefined ? { contentBytes: s.content.bytes } : { contentBytes: 16 * 1024 }),
      ...(s.content?.chunkSize !== undefined ? { chunkSize: s.content.chunkSize } : {}),
    }
  },
  unit: (cfg) => { const u = BigInt(String((cfg as { unitPrice?: bigint }).unitPrice ?? 1n)); return u > 0n ? u : 1n },
  metrics: storageMetrics,
}
