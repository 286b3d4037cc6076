/**
 * One simulated run: a scenario at one sweep point with one seed, on one thread. Every peer is a real role wired by
 * its market's `wire` (the function `souk node` calls), over the memory network on the engine's clock, paying and
 * paid on the real EVM (or the model-backed chain) whose blocks follow that clock.
 *
 * Spec:
 * - Randomness: the run's seed roots one byte stream (`seededRng`); each peer gets `forkRng(root, name)`, its
 *   payments `forkRng(root, name + ':payments')`, the network (jitter, loss) and the set-up draws (regions, churn)
 *   their own numeric streams. Nothing reads the wall clock or the system's randomness.
 * - The event log is every `ServiceEvent` a role reports, stamped with the simulated time and the peer's name, plus
 *   the simulator's own events (churn, run end), in the order they happen; `eventLogHash` is the SHA-256 of its
 *   canonical JSON lines. Same scenario and seed: same log, same hash, in any worker.
 * - A run ends when every finite role (a CDN client) is done or at `durationMs` of simulated time; server roles are
 *   then stopped, and they settle (redeem) what they were paid, as a node does at shutdown. A run that cannot finish
 *   is an error carrying its seed.
 *
 * @example
 * ```ts
 * import { parseScenario } from './src/sim/scenario.js'
 * import { runScenarioPoint } from './src/sim/run.js'
 * const scenario = parseScenario(`souk: scenario/1
 * name: tiny
 * market: cdn
 * seed: 1
 * durationMs: 60000
 * content: { bytes: 16384, chunkSize: 4096 }
 * peers:
 *   - { name: publisher, role: publisher }
 *   - { name: cache, role: cache, count: 2 }
 *   - { name: client, role: client, count: 2 }
 * `, 'tiny.yaml')
 * const r = await runScenarioPoint(scenario, { point: 0, params: {}, run: 0, seed: 5 })
 * console.log(r.eventLogHash, r.metrics.clientsOk) // the same hash every time; 2
 * ```
 */
import { createHash } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import { openDatabase, type Db } from '../core/db.js'
import type { Logger } from '../core/logger.js'
import { mulberry32, exponential, type Rand } from '../core/prng.js'
import { bytesToHex } from '../crypto/bytes.js'
import { forkRng, seededRng, type Rng } from '../crypto/rng.js'
import { createMemoryNetwork } from '../net/memory.js'
import type { Transport } from '../net/types.js'
import type { SchemeName } from '../payments/types.js'
import { marketByName } from '../services/markets.js'
import { schemeByName } from '../payments/registry.js'
import type { RoleComponents, ServiceEvent } from '../services/market.js'
import type { Chain } from '../chain/types.js'
import type { SoukDeployment } from '../payments/deploy.js'
import { ConcurrentLotteryAbi } from '../../artifacts/contracts.js'
import type { Clock } from '../core/clock.js'
import { createEngine, SimError, type Engine } from './engine.js'
import { simEvm, simModelChain } from './chain.js'
import type { Dist, Metrics, RunnableScenario, RunResult, SimPeer, SweepPoint } from './types.js'
import { simMarket } from './markets/index.js'
import { externalWork } from './external.js'
export type { Dist, PeerGroup, RunnableScenario } from './types.js'


/** Milliseconds of simulated time after the finite roles are done, for late claims and claims in flight. */
export const SIM_GRACE_MS = 5_000
/** Extra simulated time a run may take to stop and settle after `durationMs` before it is an error. */
export const SIM_STOP_LIMIT_MS = 600_000

/** A numeric stream for set-up draws, independent of the roles' byte streams. */
export function randStream(seed: number, label: string): Rand {
  const h = createHash('sha256').update(`souk-sim:${seed}:${label}`).digest()
  return mulberry32(h.readUInt32LE(0))
}

/** A draw from a session-length distribution (ms). */
export function drawDuration(rand: Rand, d: Dist): number {
  switch (d.dist) {
    case 'fixed': return d.meanMs
    case 'exponential': return exponential(rand, 1 / d.meanMs)
    case 'weibull': {
      // scale λ from the mean: mean = λ Γ(1 + 1/k)
      const k = d.shape ?? 1.5
      const lambda = d.meanMs / gamma(1 + 1 / k)
      return lambda * Math.pow(-Math.log(1 - rand()), 1 / k)
    }
    case 'lognormal': {
      const s = d.sigma ?? 1
      const mu = Math.log(d.meanMs) - (s * s) / 2
      const u = Math.max(rand(), 1e-300), v = rand()
      return Math.exp(mu + s * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v))
    }
  }
}

/** Lanczos approximation of Γ(x) for x > 0. */
function gamma(x: number): number {
  const g = 7
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7]
  if (x < 0.5) return Math.PI / (Math.sin(Math.PI * x) * gamma(1 - x))
  x -= 1
  let a = c[0]
  const t = x + g + 0.5
  for (let i = 1; i < g + 2; i++) a += c[i] / (x + i)
  return Math.sqrt(2 * Math.PI) * Math.pow(t, x + 0.5) * Math.exp(-t) * a
}

/** Canonical JSON for the event log: bigints as decimal strings, bytes as hex, keys in the order roles wrote them. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? bytesToHex(x) : x))
}

/** The running event log: counts, hashes and (optionally) keeps its lines. */
export interface EventLog {
  add(t: number, peer: string, e: ServiceEvent): void
  readonly count: number
  hash(): string
  lines?: string[]
}

export function createEventLog(opts: { keep?: boolean } = {}): EventLog {
  const h = createHash('sha256')
  const lines: string[] | undefined = opts.keep ? [] : undefined
  let count = 0
  return {
    add(t, peer, e) {
      const line = canonicalJson({ t, peer, ...e })
      h.update(line).update('\n')
      lines?.push(line)
      count++
    },
    get count() { return count },
    hash: () => h.copy().digest('hex'),
    lines,
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)

/** Runs one (scenario, point, run) with `seed`. Never throws for a crashing run: the result carries the error. */
export async function runScenarioPoint(scenario: RunnableScenario, job: { point: number; params: SweepPoint; run: number; seed: number }, opts: { onProgress?: (fraction: number) => void; keepLog?: boolean; onLog?: (log: EventLog) => void } = {}): Promise<RunResult> {
  const wallStart = performance.now()
  const engine = createEngine()
  const log = createEventLog({ keep: opts.keepLog })
  opts.onLog?.(log)
  const base = { scenario: scenario.name, point: job.point, params: job.params, run: job.run, seed: job.seed }
  let messages = 0
  try {
    const { metrics, delivered } = await simulate(scenario, job.seed, engine, log, opts.onProgress)
    messages = delivered
    return { ...base, eventLogHash: log.hash(), events: log.count, messages, virtualMs: engine.now(), wallMs: Math.round(performance.now() - wallStart), metrics }
  } catch (e) {
    const err = e as Error & { code?: string }
    log.add(engine.now(), 'sim', { kind: 'run-failed', message: err.message.split('\n')[0] })
    return {
      ...base, eventLogHash: log.hash(), events: log.count, messages, virtualMs: engine.now(), wallMs: Math.round(performance.now() - wallStart), metrics: {},
      error: { message: `${err.message.split('\n')[0]} (rerun: souk sim run FILE${job.point > 0 ? ` --point ${job.point}` : ''} --seed ${job.seed})`, ...(err.code ? { code: err.code } : {}) },
    }
  }
}

async function simulate(s: RunnableScenario, seed: number, engine: Engine, log: EventLog, onProgress?: (f: number) => void): Promise<{ metrics: Metrics; delivered: number }> {
  const market = marketByName(s.market)
  const sm = simMarket(s.market)
  const finiteRoles = sm.finiteRoles
  const root: Rng = seededRng(`souk-sim:${seed}`)
  // Roles read whole milliseconds, as from Date.now (they make bigints of deadlines); the network keeps exact times.
  const clock: Clock = { now: () => Math.floor(engine.now()), sleep: engine.clock.sleep, setTimer: engine.clock.setTimer }
  const setup = randStream(seed, 'setup')
  const scheme: SchemeName = s.scheme ?? 'lottery'
  const paid = new Set<string>(market.paidRoles)

  // The network: a latency matrix over regions, jitter, bandwidth, loss.
  const regions = Object.entries(s.network?.regions ?? { all: 1 })
  const pickRegion = () => { let u = setup(); for (const [r, share] of regions) { if ((u -= share) < 0) return r } return regions[regions.length - 1][0] }
  const regionOf = new Map<string, string>()
  const lat = s.network?.latencyMs
  const latency = lat
    ? (from: string, to: string) => { const a = regionOf.get(from)!, b = regionOf.get(to)!; return lat[a]?.[b] ?? lat[b]?.[a] ?? 0 }
    : () => 0
  const net = createMemoryNetwork({
    clock: engine.clock, latency, jitterMs: s.network?.jitterMs ?? 0, bandwidthBytesPerSec: s.network?.bandwidthBytesPerSec, lossRate: s.network?.lossRate ?? 0,
    seed: randStream(seed, 'network')() * 2 ** 32 >>> 0,
  })

  // The peers, group by group, in the scenario's order.
  const peers: SimPeer[] = []
  const byGroup = new Map<string, SimPeer[]>()
  let keyed = 0
  for (const g of s.peers) {
    const list: SimPeer[] = []
    for (let i = 0; i < (g.count ?? 1); i++) {
      const name = `${g.name}-${i}`
      const region = pickRegion()
      regionOf.set(name, region)
      const transport = net.createTransport({ peerId: name })
      const p: SimPeer = { name, group: g, role: g.role, region, transport }
      if (paid.has(g.role)) keyed++
      list.push(p)
      peers.push(p)
    }
    byGroup.set(g.name, list)
  }
  sm.check?.(peers)
  const sim = s.chain?.kind === 'model' ? await simModelChain({ engine, keys: keyed, market: s.market }) : await simEvm({ engine, keys: keyed, market: s.market })
  let k = 1
  for (const p of peers) if (paid.has(p.role)) p.key = sim.keys[k++]
  const { chain, deployment } = sim
  const dbs: Db[] = []
  const extraTransports: Transport[] = []
  let identities = 0
  const events: ServiceEvent[] = []
  const stops = new Map<string, ServiceEvent>()
  const logs = { warnings: 0, errors: 0 }
  const logger = countingLogger(logs, '')
  const record = (peer: string, e: ServiceEvent) => { log.add(engine.now(), peer, e); events.push({ ...e, peer }) }

  // A peer's market config: the market's contracts and its defaults for this run, then the scenario's config, then
  // the group's, its behaviour and its partners.
  const configFor = (p: SimPeer) => {
    const partner = p.group.partner ? byGroup.get(p.group.partner)?.map((q) => q.transport.peerId).join(',') : undefined
    return market.configSchema.parse({
      ...sim.marketConfig(s.market), ...sm.defaults(s, peers, p), ...s.config, ...p.group.config,
      ...(p.group.behaviour ? { behaviour: p.group.behaviour } : {}), ...(partner ? { partner } : {}),
    })
  }
  const components = (p: SimPeer, bootstrap: string | undefined): RoleComponents => {
    const c: RoleComponents = {
      transport: p.transport, clock, rng: forkRng(root, p.name), logger: logger.child(p.name), bootstrap,
      onEvent: (e) => record(p.name, e),
      // Work outside the queue (sharp's transcoding on libuv's threads): simulated time waits for it.
      external: externalWork(engine),
      openDb: () => { const db = openDatabase(':memory:'); dbs.push(db); return db },
      // A fresh identity on the same network and in the same region (a free-riding client whitewashes with it).
      newIdentity: async () => {
        const id = `${p.name}~${++identities}`
        regionOf.set(id, p.region)
        const t = net.createTransport({ peerId: id })
        extraTransports.push(t)
        return t
      },
    }
    if (p.key) c.payments = { scheme, context: { chain, deployment, key: p.key, clock, rng: forkRng(root, `${p.name}:payments`), logger: logger.child(`${p.name}:payments`) } }
    return c
  }

  const stopAll = new AbortController()
  setMaxListeners(0, stopAll.signal) // one listener per role
  // Each role gets its own signal, aborted with the run's: a role's reads and sleeps listen to its own signal, so no
  // signal holds thousands of listeners (adding and removing one is linear in their number).
  const roleSignal = (): AbortSignal => {
    const ac = new AbortController()
    setMaxListeners(0, ac.signal)
    stopAll.signal.addEventListener('abort', () => ac.abort(stopAll.signal.reason), { once: true })
    return ac.signal
  }
  const runs: Promise<void>[] = []
  let finished = false
  let failure: unknown
  const driver = (async () => {
    const stopBlocks = sim.startBlocks(s.chain?.blockTimeMs ?? 2_000)
    try {
      // Servers join role by role in the market's order, each waiting for the ones before it to be ready; one that
      // cannot join (e.g. not hired: enough servers) is recorded and left out. Then the finite roles start.
      const order = [...sm.joinOrder, ...new Set(peers.map((p) => p.role))].filter((r, i, a) => a.indexOf(r) === i && !finiteRoles.includes(r))
      for (const role of order) {
        for (const p of peers) {
          if (p.role !== role) continue
          try {
            p.handle = await market.wire(p.role, components(p, sm.bootstrapOf(p, peers)), configFor(p))
            record('sim', { kind: 'joined', who: p.name, role: p.role, region: p.region })
          } catch (e) {
            if (role === sm.joinOrder[0]) throw e
            record('sim', { kind: 'join-failed', who: p.name, reason: (e as Error).message.split('\n')[0] })
          }
        }
        await Promise.all(peers.filter((p) => p.role === role).map((p) => p.handle?.ready.catch(() => {})))
      }
      await Promise.all(peers.map((p) => p.handle?.ready.catch((e: unknown) => record('sim', { kind: 'not-ready', who: p.name, reason: (e as Error).message.split('\n')[0] }))))
      for (const p of peers) {
        if (!p.handle || finiteRoles.includes(p.role)) continue
        runs.push(p.handle.run({ signal: roleSignal() }).catch((e: unknown) => record('sim', { kind: 'role-failed', who: p.name, reason: (e as Error).message.split('\n')[0] })))
      }
      const finite = peers.filter((p) => finiteRoles.includes(p.role))
      for (const p of finite) p.handle = await market.wire(p.role, components(p, sm.bootstrapOf(p, peers)), configFor(p))
      startChurn(s, seed, engine, net, peers, record, stopAll.signal)
      let done = 0
      const deadline = engine.clock.sleep(Math.max(0, s.durationMs - engine.now()), { signal: stopAll.signal }).catch(() => {})
      // A group with an arrival rate starts its peers as a Poisson process; the others all start now.
      const startAt = new Map<SimPeer, number>()
      for (const g of s.peers) {
        if (!g.arrivalsPerSecond) continue
        const rand = randStream(seed, `arrivals:${g.name}`)
        let t = engine.now()
        for (const p of byGroup.get(g.name) ?? []) { t += exponential(rand, g.arrivalsPerSecond / 1000); startAt.set(p, t) }
      }
      const finites = Promise.all(finite.filter((p) => !p.group.idle).map(async (p) => {
        const at = startAt.get(p)
        if (at !== undefined) await engine.clock.sleep(at - engine.now())
        await p.handle!.run({ signal: roleSignal() }).catch((e: unknown) => record('sim', { kind: 'role-failed', who: p.name, reason: (e as Error).message.split('\n')[0] }))
        onProgress?.(Math.min(0.95, (++done / Math.max(1, finite.length)) * 0.95))
      }))
      await Promise.race([finites, deadline])
      record('sim', { kind: engine.now() >= s.durationMs ? 'time-up' : 'all-done' })
      await engine.clock.sleep(SIM_GRACE_MS)
      // A scheme whose winners are drawn from a later block (microcash) is given the time to reach it: its `ripen`
      // asks to mine n blocks, and the run lets n block times pass instead, the clock's blocks being mined meanwhile.
      const facts = events.find((e) => e.kind === 'published' && typeof e.plan === 'object')?.plan as Record<string, unknown> | undefined
      const ripen = schemeByName(scheme).ripen
      if (ripen && facts) {
        const blockMs = s.chain?.blockTimeMs ?? 2_000
        const waiting: Chain = { ...chain, dev: { ...chain.dev!, mine: async (n = 1) => { record('sim', { kind: 'ripen', blocks: n }); await engine.clock.sleep(n * blockMs + 1) } } }
        await ripen(waiting, facts)
      }
      stopAll.abort()
      await Promise.all(runs)
      await finites
      // Stop in reverse order of joining: finite roles, servers (they settle), the bootstrap peer last.
      for (const p of [...peers].reverse()) {
        if (!p.handle) continue
        try { stops.set(p.name, await p.handle.stop()) } catch (e) { record('sim', { kind: 'stop-failed', who: p.name, reason: (e as Error).message.split('\n')[0] }) }
      }
    } catch (e) {
      failure = e
    } finally {
      stopBlocks()
      finished = true
    }
  })()
  const out = await engine.run({ until: s.durationMs + SIM_STOP_LIMIT_MS, stopWhen: () => finished })
  try {
    if (!finished) {
      stopAll.abort()
      throw new SimError(`The run did not finish: ${out.reason === 'idle' ? 'nothing left to happen while roles still waited' : `still running ${SIM_STOP_LIMIT_MS / 1000} s of simulated time after durationMs`}`, { code: 'SIM_STUCK' })
    }
    await driver
    if (failure) throw failure
    const unit = sm.unit(configFor(peers.find((p) => p.role === sm.joinOrder[0]) ?? peers[0]))
    const metrics = sm.metrics({ peers, stops, chain, deployment, unit, events, scheme, servePerChunk: s.economics?.servePerChunk ?? 0, penaltyBurned: await penaltyBurned(chain, deployment, scheme) })
    metrics.warnings = logs.warnings
    metrics.errors = logs.errors
    metrics.chainRequests = sim.stats().requests
    metrics.blocks = sim.stats().blocksMined
    const delivered = net.stats().framesDelivered
    metrics.messages = delivered
    record('sim', { kind: 'run-end', at: engine.now() })
    onProgress?.(1)
    return { metrics, delivered }
  } finally {
    for (const t of [...peers.map((p) => p.transport), ...extraTransports]) await t.stop().catch(() => {})
    for (const db of dbs) if (db.open) db.close()
    await sim.release()
  }
}

/**
 * Tokens a microcash sponsor lost to burns in this run, read from the chain: every PenaltyBurned event (the half
 * burned when it is caught, and a pool left at withdrawal; EscrowCaught repeats the first, so it is not counted).
 */
async function penaltyBurned(chain: Chain, deployment: SoukDeployment, scheme: SchemeName): Promise<bigint> {
  const address = deployment.contracts?.microcash?.concurrentLottery
  if (scheme !== 'microcash' || !address) return 0n
  const logs = await chain.public.getContractEvents({ address, abi: ConcurrentLotteryAbi, fromBlock: 0n, toBlock: 'latest' })
  let burned = 0n
  for (const l of logs as { eventName: string; args: { amount?: bigint } }[]) if (l.eventName === 'PenaltyBurned') burned += l.args.amount ?? 0n
  return burned
}

/**
 * The roles' logger in a run: counts warnings and errors (metrics `warnings`, `errors`) and keeps nothing else — a
 * run of 10^4 peers would otherwise hold every line it logged. What happened is in the event log.
 */
function countingLogger(counts: { warnings: number; errors: number }, scope: string): Logger {
  const none = () => {}
  return {
    debug: none, info: none,
    warn: () => { counts.warnings++ },
    error: () => { counts.errors++ },
    child: (s) => countingLogger(counts, scope ? `${scope}:${s}` : s),
  }
}

/** Churn: peers of the listed roles leave after a session drawn from its distribution and come back after a downtime. */
function startChurn(s: RunnableScenario, seed: number, engine: Engine, net: ReturnType<typeof createMemoryNetwork>, peers: SimPeer[], record: (peer: string, e: ServiceEvent) => void, stopped: AbortSignal) {
  const churn = s.network?.churn
  if (!churn) return
  for (const p of peers) {
    if (!churn.roles.includes(p.role)) continue
    const rand = randStream(seed, `churn:${p.name}`)
    const leave = () => {
      if (stopped.aborted) return
      net.disconnect(p.transport.peerId)
      record('sim', { kind: 'left', who: p.name })
      engine.after(drawDuration(rand, churn.downtime), back)
    }
    const back = () => {
      net.reconnect(p.transport.peerId)
      record('sim', { kind: 'back', who: p.name })
      if (stopped.aborted) return
      engine.after(drawDuration(rand, churn.session), leave)
    }
    engine.after(drawDuration(rand, churn.session), leave)
  }
}
