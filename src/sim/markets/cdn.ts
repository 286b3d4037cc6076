/**
 * The CDN market in the simulator: the publisher joins first, caches join it, clients start once every cache is
 * ready; metrics from the roles' final stats (money in units of the price per chunk; `attacker*` over the peers of
 * `attacker: true` groups; docs/sim.md lists them).
 */
import type { PayeeStats, SettleReport } from '../../payments/types.js'
import type { ServiceEvent } from '../../services/market.js'
import { SimError } from '../engine.js'
import type { FinishedRun, Metrics, SimMarket, SimPeer } from '../types.js'

import { sum, units } from './common.js'


/** The CDN run's metrics. Money is in units of the price per chunk; `attacker*` sum over peers marked `attacker`. */
export function cdnMetrics(f: FinishedRun): Metrics {
  const m: Metrics = {}
  const clients = f.peers.filter((p) => p.role === 'client' && !p.group.idle)
  const caches = f.peers.filter((p) => p.role === 'cache')
  const stop = (p: SimPeer) => f.stops.get(p.name) as (ServiceEvent & { stats?: Record<string, unknown>; payments?: PayeeStats; settle?: SettleReport; rounds?: number; error?: string }) | undefined
  const cstats = (p: SimPeer) => (stop(p)?.stats ?? {}) as Record<string, number>
  m.clients = clients.length
  m.clientsOk = clients.filter((p) => stop(p)?.rounds && !stop(p)?.error).length
  m.clientsFailed = m.clients - m.clientsOk
  m.roundsFetched = sum(clients.map((p) => Number(stop(p)?.rounds ?? 0)))
  m.bytesDelivered = sum(f.events.filter((e) => e.kind === 'content').map((e) => Number(e.bytes)))
  m.chunksServed = sum(caches.map((p) => cstats(p).chunksServed ?? 0))
  m.claimsPaid = sum(caches.map((p) => cstats(p).claimsPaid ?? 0))
  m.claimsRejected = sum(caches.map((p) => cstats(p).claimsRejected ?? 0))
  m.forgedClaims = sum(caches.map((p) => cstats(p).forgedClaims ?? 0))
  m.forgedClaimsPaid = sum(caches.map((p) => Math.max(0, (cstats(p).forgedClaimsPaid ?? 0) - (cstats(p).forgedClaimsLateValid ?? 0))))
  m.winningTickets = sum(caches.map((p) => stop(p)?.payments?.winning ?? 0))
  const credited = (p: SimPeer) => units(stop(p)?.payments?.credited, f.unit)
  const received = (p: SimPeer) => units(stop(p)?.payments?.received, f.unit)
  m.credited = sum(caches.map(credited))
  m.received = sum(caches.map(received))
  m.onChainTxs = sum(caches.map((p) => stop(p)?.payments?.transactions ?? 0))
  m.gasUsed = sum(caches.map((p) => Number(stop(p)?.payments?.gasUsed ?? 0n)))
  m.lost = sum(caches.map((p) => stop(p)?.payments?.lostCount ?? 0))
  // A party's value: the expected value of what it was paid, less the face value of winners it lost (docs/sim.md).
  // Lottery tickets: their expected value, as a draw would swamp a small gain; schemes that pay a fixed number of
  // winners per round (microcash) or every voucher (channel): what was paid out, compensations included.
  const paidValue = (p: SimPeer) => (f.scheme === 'lottery' ? credited(p) - (stop(p)?.payments?.lostCount ?? 0) * units(stop(p)?.payments?.faceValue, f.unit) : received(p))
  // Less what serving cost it (the scenario's economics.servePerChunk, in price units); the sponsor owes payments only.
  const value = (p: SimPeer) => paidValue(p) - f.servePerChunk * (cstats(p).chunksServed ?? 0)
  const owed = sum(caches.map(paidValue))
  const publisherIsAttacker = f.peers.some((p) => p.role === 'publisher' && p.group.attacker)
  // The sponsor's value: minus what it owes the servers and minus what it lost to penalty burns.
  m.penaltyBurned = units(f.penaltyBurned, f.unit)
  const sponsor = -owed - m.penaltyBurned
  m.attackerValue = sum(caches.filter((p) => p.group.attacker).map(value)) + (publisherIsAttacker ? sponsor : 0)
  m.victimValue = sum(caches.filter((p) => !p.group.attacker).map(value)) + (publisherIsAttacker ? 0 : sponsor)
  const attackers = f.peers.filter((p) => p.group.attacker)
  const attackerCaches = attackers.filter((p) => p.role === 'cache')
  const honestCaches = caches.filter((p) => !p.group.attacker)
  m.attackers = attackers.length
  m.attackerCredited = sum(attackerCaches.map(credited))
  m.attackerReceived = sum(attackerCaches.map(received))
  m.honestCredited = sum(honestCaches.map(credited))
  m.honestReceived = sum(honestCaches.map(received))
  m.honestChunksServed = sum(honestCaches.map((p) => cstats(p).chunksServed ?? 0))
  m.honestClaimsUnpaid = sum(honestCaches.map((p) => cstats(p).claimsUnpaid ?? 0))
  const publisher = f.peers.find((p) => p.role === 'publisher')
  const pstats = (publisher ? (stop(publisher)?.stats ?? {}) : {}) as Record<string, number>
  for (const k of ['bundles', 'claimsPaid', 'claimsRejected', 'ticketsIssued'] as const) if (typeof pstats[k] === 'number') m[`publisher.${k}`] = pstats[k]
  // An attacker is named by its peer name, its peer id, or the address it pays or is paid with.
  const payerOf = new Map(f.events.filter((e) => e.kind === 'published').map((e) => [e.peer as string, String(e.payer).toLowerCase()]))
  const names = new Set(attackers.flatMap((p) => [p.name, p.transport.peerId, ...(payerOf.has(p.name) ? [payerOf.get(p.name)!] : []), ...(stop(p)?.payee ? [String(stop(p)!.payee).toLowerCase()] : [])]))
  const caught = f.events.filter((e) => (e.kind === 'caught' || e.kind === 'banned') && typeof e.who === 'string' && (names.has(e.who as string) || names.has((e.who as string).toLowerCase())))
  m.caughtEvents = caught.length
  m.caught = caught.length > 0 ? 1 : 0
  m.attackEvents = f.events.filter((e) => e.kind === 'attack').length
  return m
}


export const cdnSim: SimMarket = {
  finiteRoles: ['client'],
  joinOrder: ['publisher', 'cache', 'client'],
  check(peers) {
    const n = peers.filter((p) => p.role === 'publisher').length
    if (n !== 1) throw new SimError(`A cdn scenario needs exactly one publisher, found ${n}`, { code: 'SIM_TOPOLOGY', hints: ['one group `{ role: publisher }` of count 1'] })
  },
  bootstrapOf: (p, peers) => (p.role === 'publisher' ? undefined : peers.find((q) => q.role === 'publisher')!.transport.addresses()[0]),
  defaults(s, peers) {
    const caches = peers.filter((p) => p.role === 'cache').length
    const rounds = sum(peers.filter((p) => p.role === 'client' && !p.group.idle).map((p) => Number(p.group.config?.rounds ?? s.config?.rounds ?? 1)))
    const chunks = Math.ceil((s.content?.bytes ?? 4 << 20) / (s.content?.chunkSize ?? 128 * 1024))
    return {
      lateClaimDelayMs: 500, maxCaches: Math.max(1, caches), expectedChunks: Math.max(1, rounds * chunks),
      ...(s.content?.bytes !== undefined ? { contentBytes: s.content.bytes } : {}), ...(s.content?.chunkSize !== undefined ? { chunkSize: s.content.chunkSize } : {}),
    }
  },
  unit: (cfg) => BigInt(String((cfg as { pricePerChunk?: bigint }).pricePerChunk ?? 1n)),
  metrics: cdnMetrics,
}
