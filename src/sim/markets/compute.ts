/**
 * The compute market in the simulator: workers and verifiers join first, then the clients, each bootstrapped to a
 * worker (round-robin by index, so every worker gets clients) and naming every verifier of the run as its job's
 * checkers (quorum: a majority, as the testnet); `WorkMarket` deployed with the chain's snapshot; jobs of tiny
 * frames and short windows so a run takes seconds; metrics from the roles' final stats (money in units of the
 * worker's `pricePerUnit`; `attacker*` over the peers of `attacker: true` groups).
 *
 * A party's value: what it was paid less what it paid and lost. A worker: what it withdrew (settled batches' price
 * and its stake back) less the stake it locked (a slash is stake not returned), less `economics.servePerChunk` ×
 * the units it really transcoded (the compute a lazy worker saves). A client: what it withdrew (refunds, slashes
 * and finder's fees) less the escrow it paid. Verifiers are not paid.
 */
import type { Address } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { ServiceEvent } from '../../services/market.js'
import { deployWorkMarketContract } from '../../services/compute/chain.js'
import type { ClientResult } from '../../services/compute/client.js'
import type { VerifierStats } from '../../services/compute/verifier.js'
import type { WorkerStats } from '../../services/compute/worker.js'
import { SIM_GENESIS } from '../chain.js'
import { SimError } from '../engine.js'
import type { FinishedRun, Metrics, SimMarket, SimPeer } from '../types.js'
import { big, refuseModelChain, roundRobin, sum, units } from './common.js'

type Stop = ServiceEvent & { stats?: unknown; error?: string }

export function computeMetrics(f: FinishedRun): Metrics {
  const m: Metrics = {}
  const clients = f.peers.filter((p) => p.role === 'client' && !p.group.idle)
  const workers = f.peers.filter((p) => p.role === 'worker')
  const verifiers = f.peers.filter((p) => p.role === 'verifier')
  const stop = (p: SimPeer) => f.stops.get(p.name) as Stop | undefined
  const wstats = (p: SimPeer) => (stop(p)?.stats ?? {}) as Partial<WorkerStats>
  const vstats = (p: SimPeer) => (stop(p)?.stats ?? {}) as Partial<VerifierStats>
  const cres = (p: SimPeer) => (stop(p)?.stats ?? {}) as Partial<ClientResult>
  const by = (kind: string, peer?: string) => f.events.filter((e) => e.kind === kind && (peer === undefined || e.peer === peer))
  // Jobs as the workers signed them: who works which, its stake; the slash of each from its client's job-opened.
  const signed = new Map(by('job-signed').map((e) => [String(e.jobId), e]))
  const holder = new Map([...signed.values()].map((e) => [String(e.jobId), String(e.peer)]))
  const opened = new Map(by('job-opened').map((e) => [String(e.jobId), e]))
  const faulted = by('batch-faulted').filter((e) => e.peer !== undefined && clients.some((c) => c.name === e.peer))
  const jobsOf = (p: SimPeer) => [...opened.keys()].filter((id) => holder.get(id) === p.name)
  const faultsOn = (id: string) => faulted.filter((e) => String(e.jobId) === id).length
  const slashedOf = (p: SimPeer) => jobsOf(p).reduce((a, id) => a + big(opened.get(id)!.slash) * BigInt(faultsOn(id)), 0n)

  m.clients = clients.length
  m.clientsOk = clients.filter((p) => cres(p).ended === true && !stop(p)?.error).length
  m.clientsFailed = m.clients - m.clientsOk
  m.jobs = opened.size
  m.unitsSent = sum(clients.map((p) => cres(p).unitsSent ?? 0))
  m.unitsDone = sum(workers.map((p) => wstats(p).unitsDone ?? 0))
  m.unitsFaked = sum(workers.map((p) => wstats(p).unitsFaked ?? 0))
  m.unitsVerified = sum(verifiers.map((p) => vstats(p).checks ?? 0))
  m.verdictsOk = sum(verifiers.map((p) => vstats(p).ok ?? 0))
  m.verdictsBad = sum(verifiers.map((p) => vstats(p).bad ?? 0))
  m.batchesClaimed = sum(workers.map((p) => wstats(p).batchesClaimed ?? 0))
  m.batchesSettled = sum(workers.map((p) => wstats(p).batchesSettled ?? 0))
  m.batchesFaulted = faulted.length
  m.slashes = sum(clients.map((p) => cres(p).faults ?? 0))
  m.faultsRefused = sum(clients.map((p) => cres(p).faultsRefused ?? 0))
  m.rootMismatches = sum(clients.map((p) => cres(p).rootMismatches ?? 0))
  m.claimGas = sum(workers.map((p) => Number(wstats(p).claimGas ?? 0n)))
  m.stakeLost = sum(workers.map((p) => units(slashedOf(p), f.unit)))
  const attackers = f.peers.filter((p) => p.group.attacker)
  m.cheatersSlashed = workers.filter((p) => p.group.attacker && slashedOf(p) > 0n).length
  m.honestWorkersSlashed = workers.filter((p) => !p.group.attacker && slashedOf(p) > 0n).length

  // Values, in unit prices.
  const stakeOf = (p: SimPeer) => jobsOf(p).reduce((a, id) => a + big(signed.get(id)!.stake), 0n)
  const workerValue = (p: SimPeer) => units(wstats(p).withdrawn, f.unit) - units(stakeOf(p), f.unit) - f.servePerChunk * ((wstats(p).unitsDone ?? 0) - (wstats(p).unitsFaked ?? 0))
  const escrowOf = (p: SimPeer) => { const e = by('job-opened', p.name)[0]; return e ? big(e.pricePerUnit) * BigInt(Number(e.units)) : 0n }
  const clientValue = (p: SimPeer) => units(cres(p).withdrawn, f.unit) - units(escrowOf(p), f.unit)
  const value = (p: SimPeer) => (p.role === 'worker' ? workerValue(p) : p.role === 'client' && !p.group.idle ? clientValue(p) : 0)
  m.attackers = attackers.length
  m.attackerValue = sum(attackers.map(value))
  m.victimValue = sum(f.peers.filter((p) => !p.group.attacker).map(value))
  m.attackerSlashed = sum(attackers.filter((p) => p.role === 'worker').map((p) => units(slashedOf(p), f.unit)))
  m.honestWorkerValue = sum(workers.filter((p) => !p.group.attacker).map(workerValue))
  m.clientValue = sum(clients.map(clientValue))

  // Caught: a batch faulted on a job an attacker works.
  const names = new Set(attackers.flatMap((p) => [p.name, p.transport.peerId, ...(p.key ? [privateKeyToAddress(p.key).toLowerCase()] : [])]))
  const caught = faulted.filter((e) => names.has(holder.get(String(e.jobId)) ?? ''))
  m.caughtEvents = caught.length
  m.caught = caught.length > 0 ? 1 : 0
  return m
}

export const computeSim: SimMarket = {
  finiteRoles: ['client'],
  joinOrder: ['worker', 'verifier', 'client'],
  check(peers) {
    if (!peers.some((p) => p.role === 'worker')) throw new SimError('A compute scenario needs a worker', { code: 'SIM_TOPOLOGY', hints: ['add a group `{ role: worker }`'] })
    if (peers.some((p) => p.role === 'client') && !peers.some((p) => p.role === 'verifier')) throw new SimError('A compute scenario with clients needs a verifier (the jobs\' checkers)', { code: 'SIM_TOPOLOGY', hints: ['add a group `{ role: verifier }`'] })
  },
  bootstrapOf: roundRobin('client', 'worker'),
  async deploy(chain, key, deployment) {
    return { workMarket: (await deployWorkMarketContract(chain, key, deployment.token)).toLowerCase() as Address }
  },
  defaults(s, peers, p) {
    refuseModelChain(s)
    const blockMs = s.chain?.blockTimeMs ?? 2_000
    const verifiers = peers.filter((q) => q.role === 'verifier')
    const checkers = verifiers.map((q) => ({ address: privateKeyToAddress(q.key!).toLowerCase() as Address, peer: q.transport.addresses()[0]! }))
    return {
      // Tiny frames (sharp does real work), batches of 2 units with a check each; a dispute window of 24 blocks (every
      // transaction mines a block too, so a busy chain runs through a window faster than the clock's blocks).
      units: 4, batchUnits: 2, checksPerBatch: 1, framesPerUnit: 1, width: 32, height: 18, profile: '16x8:jpeg:80',
      challengeDelay: 1, disputeWindow: 24, responseWindow: 8, minResponseWindow: 2, claimWithinBlocks: 1_000,
      pollMs: Math.max(50, Math.round(blockMs / 4)), contentSeed: p.name,
      // Roles count time from the run's start, the chain's blocks from its genesis date: deal times (checked on chain
      // against the block time) need the chain's origin.
      clockOffsetMs: SIM_GENESIS.getTime(),
      ...(p.role === 'client' ? { checkers, quorum: Math.max(1, Math.ceil((verifiers.length + 1) / 2)) } : {}),
    }
  },
  unit: (cfg) => { const u = BigInt(String((cfg as { pricePerUnit?: bigint }).pricePerUnit ?? 1n)); return u > 0n ? u : 1n },
  metrics: computeMetrics,
}
