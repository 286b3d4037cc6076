/**
 * The dashboard's state: testnet events and chain facts in, one JSON snapshot out. Pure: no clock, no I/O — each
 * event comes with the time it was seen (`at`, ms), so a test replays a run exactly. The server
 * (`server.ts`) serves `snapshot()` as /api/state, pushes it over server-sent events, and renders
 * `renderMetrics(snapshot())` (`metrics.ts`) as /metrics.
 *
 * What it reads (every field optional and checked; an event it does not know is counted and otherwise ignored):
 * - any market: `listening` (a peer, its role and peer id), `ready` / `offering` / `checking` (a peer is up), `stats`
 *   (a peer's last word: it stopped), `crashed`, `chain` (the RPC URL), `deployed` (contract addresses), `run-info`
 *   (data dir, deployment file, funded accounts), `peers-planned` (every peer the run starts, with its behaviour),
 *   `keep-alive`; the dashboard's own `testnet` (market, scheme) and `summary` (the run's result); `chain-block` and
 *   `chain-log` (from `watchChain`: blocks, transactions, gas and decoded contract events).
 * - cdn: `deal`, `cache-hired`, `cache-ready` (deals), `served` (bytes), `paid` (one ticket: its expected value
 *   `credited`, `winning`, `faceValue`), `forged-claim`, `shortcut-failed`, `cut-off` (cheaters caught).
 * - storage: `deal-signed`, `deal-opened`, `deal-active`, `deal-ended`, `period-proven`, `period-skipped`,
 *   `fault-called`, `period-faulted`.
 * - compute: `job-signed`, `job-opened`, `work-claimed`, `batches-settled`, `batch-faulted`, `job-ended`, `verdict`.
 *
 * @example
 * ```ts
 * import { createDashboardState } from './state.js'
 * const s = createDashboardState()
 * s.apply({ kind: 'listening', role: 'cache', name: 'cache-0', peerId: '12D3KooW…' }, 1_000)
 * s.snapshot().peers[0].state // 'listening'
 * ```
 */
import { z } from 'zod'

/** One event as the testnet reports it: a kind, maybe the peer that said it, and anything else. */
export const DashboardEvent = z.object({ kind: z.string().min(1).max(64), name: z.string().max(64).optional(), role: z.string().max(32).optional() }).passthrough()
export type DashboardEvent = z.infer<typeof DashboardEvent>

export type PeerState = 'starting' | 'listening' | 'ready' | 'stopped' | 'crashed'

export interface PeerRow {
  name: string; role: string; peerId?: string; address?: string; behaviour?: string
  state: PeerState; since: number; lastSeen: number; events: number
}

/** One server's lottery: tickets, their expected value, what won, what reached it on chain, and the ±2σ band. */
export interface PayoutRow {
  name: string; address?: string
  tickets: number; won: number
  /** Σ expected value of its tickets (= price per chunk × tickets), in token units. */
  expected: string
  /** won × face value: what the lottery awarded it so far (redeemed or not). */
  awarded: string
  /** Token transfers to it from the payment contract, on chain. */
  onChain: string
  faceValue?: string
  /** σ of the payout: √(Σ c·(F − c)) for tickets of expected value c and face value F (null: unknown face value). */
  sigma: string | null
  /** expected ± 2σ, floored at 0. */
  low: string | null; high: string | null
  /** Whether `awarded` lies inside the band (null when there is no band). */
  inBand: boolean | null
}

export interface ProofRow { name: string; due: number; proven: number; faulted: number; skipped: number; slashed: string }
export interface DealRow { id: string; state: string; client?: string; server?: string; price?: string; since: number }
export interface CheaterRow { name: string; role?: string; how: string; count: number }
export interface LogRow { at: number; name?: string; kind: string; text: string }

export interface DashboardSnapshot {
  version: 1
  market: string | null
  scheme: string | null
  status: 'waiting' | 'running' | 'finished'
  ok: boolean | null
  startedAt: number | null
  updatedAt: number | null
  events: number
  eventsByKind: Record<string, number>
  chain: {
    rpcUrl: string | null; dataDir: string | null; deploymentPath: string | null
    contracts: Record<string, string>
    accounts: { name: string; address: string }[]
    block: number | null; blocks: number; transactions: number; gasUsed: string
    eventsByName: Record<string, number>
    recent: { block: number; contract: string; event: string; tx?: string; at: number }[]
  }
  peers: PeerRow[]
  roles: Record<string, number>
  deals: { byState: Record<string, number>; list: DealRow[] }
  payments: {
    ticketsIssued: number; won: number; redeemed: number; redeemTransactions: number
    expected: string; awarded: string; onChain: string
    servers: PayoutRow[]
  }
  traffic: { bytesServed: number; bytesVerified: number; bundles: number }
  proofs: { providers: ProofRow[]; slashes: number; slashed: string }
  cheaters: CheaterRow[]
  /** Per second since `startedAt` (the last `SERIES_SECONDS`): t is seconds since the start. */
  series: { t: number[]; bytes: number[]; payments: number[]; txs: number[]; gas: number[]; proofs: number[] }
  log: LogRow[]
}

export const SERIES_SECONDS = 600
const LOG_ROWS = 80
const RECENT_CHAIN = 40
const MAX_DEALS = 500
const MAX_PEERS = 512

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length <= 512 ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined)
const num = (v: unknown): number => { const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : typeof v === 'bigint' ? Number(v) : NaN; return Number.isFinite(n) ? n : 0 }
const big = (v: unknown): bigint => {
  if (typeof v === 'bigint') return v
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v)
  if (typeof v === 'string' && /^-?\d{1,80}$/.test(v)) return BigInt(v)
  return 0n
}
const addr = (v: unknown): string | undefined => (typeof v === 'string' && /^0x[0-9a-fA-F]{40}$/.test(v) ? v.toLowerCase() : undefined)
/** Integer square root of a non-negative bigint. */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError('isqrt of a negative number')
  if (n < 2n) return n
  let x = BigInt(Math.floor(Math.sqrt(Number(n))))
  while (x * x > n) x--
  while ((x + 1n) * (x + 1n) <= n) x++
  return x
}

interface Payout { name: string; address?: string; tickets: number; won: number; expected: bigint; variance: bigint; faceValue?: bigint; pendingVar: bigint[] }
interface Proof { due: number; proven: number; faulted: number; skipped: number; slashed: bigint }

export interface DashboardState {
  /** Takes one event seen at `at` (ms). Never throws: a malformed event is counted as `invalid`. */
  apply(event: unknown, at: number): void
  snapshot(): DashboardSnapshot
}

export function createDashboardState(): DashboardState {
  let market: string | null = null, scheme: string | null = null
  let status: DashboardSnapshot['status'] = 'waiting', ok: boolean | null = null
  let startedAt: number | null = null, updatedAt: number | null = null
  let events = 0
  const byKind = new Map<string, number>()
  const chain = { rpcUrl: null as string | null, dataDir: null as string | null, deploymentPath: null as string | null, contracts: {} as Record<string, string>, accounts: [] as { name: string; address: string }[], block: null as number | null, blocks: 0, transactions: 0, gasUsed: 0n }
  const chainEvents = new Map<string, number>()
  const recentChain: DashboardSnapshot['chain']['recent'] = []
  const peers = new Map<string, PeerRow>()
  const peerByPeerId = new Map<string, string>()
  const nameByAddress = new Map<string, string>()
  // cdn: the publisher names a cache by peer id (its deal, its payee) and may do so before that cache's own events.
  const addressByPeerId = new Map<string, string>()
  const dealPeerId = new Map<string, string>()
  const deals = new Map<string, DealRow>()
  const payouts = new Map<string, Payout>()
  const onChainTo = new Map<string, bigint>()
  let redeemed = 0
  const redeemTxs = new Set<string>()
  const traffic = { bytesServed: 0, bytesVerified: 0, bundles: 0 }
  const proofs = new Map<string, Proof>()
  const dealProvider = new Map<string, string>()
  const faultsSeen = new Set<string>()
  let slashes = 0, slashed = 0n, chainSlashed = 0n
  const jobSlash = new Map<string, bigint>()
  const cheaters = new Map<string, CheaterRow>()
  const log: LogRow[] = []
  // Time series: one bucket per second since startedAt, the last SERIES_SECONDS kept.
  const buckets = new Map<number, { bytes: number; payments: number; txs: number; gas: number; proofs: number }>()
  let lastBucket = 0

  const bucket = (at: number) => {
    const s = Math.max(0, Math.floor((at - (startedAt ?? at)) / 1000))
    let b = buckets.get(s)
    if (!b) {
      b = { bytes: 0, payments: 0, txs: 0, gas: 0, proofs: 0 }
      buckets.set(s, b)
      if (s > lastBucket) lastBucket = s
      for (const k of buckets.keys()) if (k <= lastBucket - SERIES_SECONDS) buckets.delete(k)
    }
    return b
  }
  const peer = (name: string, role: string | undefined, at: number): PeerRow => {
    let p = peers.get(name)
    if (!p) {
      if (peers.size >= MAX_PEERS) return { name, role: role ?? '?', state: 'listening', since: at, lastSeen: at, events: 0 }
      p = { name, role: role ?? roleOf(name), state: 'listening', since: at, lastSeen: at, events: 0 }
      peers.set(name, p)
    }
    if (role && p.role === '?') p.role = role
    return p
  }
  const setState = (p: PeerRow, s: PeerState, at: number) => { if (p.state !== s && p.state !== 'crashed') { p.state = s; p.since = at } }
  const learnAddress = (name: string | undefined, a: string | undefined) => {
    if (!name || !a) return
    nameByAddress.set(a, name)
    const p = peers.get(name)
    if (p) p.address = a
    const po = payouts.get(name)
    if (po) po.address = a
  }
  const payout = (name: string): Payout => {
    let p = payouts.get(name)
    if (!p) { p = { name, address: peers.get(name)?.address, tickets: 0, won: 0, expected: 0n, variance: 0n, pendingVar: [] }; payouts.set(name, p) }
    return p
  }
  const proof = (name: string): Proof => {
    let p = proofs.get(name)
    if (!p) { p = { due: 0, proven: 0, faulted: 0, skipped: 0, slashed: 0n }; proofs.set(name, p) }
    return p
  }
  const deal = (id: string, at: number, patch: Partial<DealRow>) => {
    let d = deals.get(id)
    if (!d) {
      if (deals.size >= MAX_DEALS) return
      d = { id, state: patch.state ?? 'proposed', since: at }
      deals.set(id, d)
    }
    if (patch.state && patch.state !== d.state) { d.state = patch.state; d.since = at }
    for (const k of ['client', 'server', 'price'] as const) if (patch[k] !== undefined) d[k] = patch[k]
  }
  const caught = (name: string, role: string | undefined, how: string) => {
    const k = `${name}\u0000${how}`
    const c = cheaters.get(k)
    if (c) c.count++
    else cheaters.set(k, { name, role, how, count: 1 })
  }
  const fault = (provider: string | undefined, key: string, amount: bigint) => {
    if (faultsSeen.has(key)) return
    faultsSeen.add(key)
    slashes++
    slashed += amount
    if (provider) { const p = proof(provider); p.faulted++; p.slashed += amount; caught(provider, peers.get(provider)?.role, 'failed a proof: collateral slashed') }
  }
  const say = (at: number, name: string | undefined, kind: string, text: string) => {
    log.push({ at, name, kind, text })
    if (log.length > LOG_ROWS) log.shift()
  }
  const souk = (v: unknown) => { const w = big(v); return `${w / 10n ** 18n}.${((w % 10n ** 18n) / 10n ** 12n).toString().padStart(6, '0')} SOUK` }
  const short = (h: unknown) => { const s = str(h) ?? '?'; return s.length > 14 ? `${s.slice(0, 10)}…` : s }
  const nameOfPeerId = (id: unknown) => { const s = str(id); return s ? peerByPeerId.get(s) ?? short(s) : undefined }
  /** The cache a publisher's deal names (by peer id), with its payee address learnt. */
  const cdnCache = (e: DashboardEvent) => {
    const id = str(e.cache), a = addr(e.payee)
    if (id) { dealPeerId.set(`cdn:${id}`, id); if (a) addressByPeerId.set(id, a) }
    const cache = nameOfPeerId(id)
    if (id && peerByPeerId.has(id)) learnAddress(cache, a)
    return cache
  }

  function applyChainLog(e: Record<string, unknown>, at: number) {
    const event = str(e.event) ?? '?'
    const contract = str(e.contract) ?? short(e.address)
    const args = (typeof e.args === 'object' && e.args !== null ? e.args : {}) as Record<string, unknown>
    const label = `${contract}.${event}`
    chainEvents.set(label, (chainEvents.get(label) ?? 0) + 1)
    recentChain.push({ block: num(e.block), contract, event, tx: str(e.tx), at })
    if (recentChain.length > RECENT_CHAIN) recentChain.shift()
    // Token transfers out of a payment or market contract: what each address received on chain.
    if (event === 'Transfer' && contract === 'SoukToken') {
      const from = addr(args.from), to = addr(args.to)
      const contracts = new Set(Object.entries(chain.contracts).filter(([n]) => n !== 'token' && n !== 'SoukToken').map(([, a]) => a.toLowerCase()))
      if (from && to && contracts.has(from)) onChainTo.set(to, (onChainTo.get(to) ?? 0n) + big(args.value))
    } else if (event === 'WinningTicketRedeemed') {
      redeemed++; const tx = str(e.tx); if (tx) redeemTxs.add(tx)
    } else if (event === 'TicketsRedeemed') {
      const seqs = str(args.seqs) ?? ''
      // seqs: the run's ticket numbers, 16 bytes each (as the lottery's audit counts them).
      redeemed += Math.max(0, Math.floor((seqs.length - 2) / 32)); const tx = str(e.tx); if (tx) redeemTxs.add(tx)
    } else if (event === 'WinnersRedeemed') {
      redeemed += num(args.count); const tx = str(e.tx); if (tx) redeemTxs.add(tx)
    } else if (event === 'PeriodFaulted') {
      // The storage client's fault-called event carries no amount: the chain's event does.
      const amount = big(args.slashed)
      chainSlashed += amount
      const provider = dealProvider.get(str(args.dealId) ?? '')
      if (provider) proof(provider).slashed += amount
    } else if (event === 'DealOpened') {
      const id = str(args.dealId)
      const provider = nameByAddress.get(addr(args.provider) ?? '')
      if (id) {
        if (provider) { if (!dealProvider.has(id)) proof(provider).due += num(args.periods); dealProvider.set(id, provider) }
        deal(id, at, { client: nameByAddress.get(addr(args.client) ?? ''), server: provider })
      }
    }
  }

  function applyOne(e: DashboardEvent, at: number) {
    const name = e.name
    const p = name ? peer(name, e.role, at) : undefined
    if (p) { p.lastSeen = at; p.events++ }
    const b = () => bucket(at)
    switch (e.kind) {
      // --- Any market
      // The dashboard's own first word: which market and scheme.
      case 'testnet': market = str(e.market) ?? market; scheme = str(e.scheme) ?? scheme; break
      // Where the run keeps its data and who holds which account (the testnet's run-info; keys are never kept).
      case 'run-info': {
        chain.dataDir = str(e.dataDir) ?? chain.dataDir
        chain.deploymentPath = str(e.deploymentPath) ?? chain.deploymentPath
        chain.rpcUrl ??= str(e.rpcUrl) ?? null
        const token = addr(e.token); if (token) chain.contracts.SoukToken = token
        if (Array.isArray(e.accounts)) {
          chain.accounts = []
          for (const a of e.accounts.slice(0, 64) as Record<string, unknown>[]) {
            const ad = addr(a?.address), n = str(a?.role) ?? str(a?.name)
            if (ad && n) { chain.accounts.push({ name: n, address: ad }); learnAddress(n, ad) }
          }
        }
        say(at, undefined, e.kind, `data in ${chain.dataDir ?? '?'}; ${chain.accounts.length} funded accounts`)
        break
      }
      // The peers the run will start (name, role, behaviour), before any of them is up.
      case 'peers-planned': {
        if (!Array.isArray(e.peers)) break
        for (const x of e.peers.slice(0, MAX_PEERS) as Record<string, unknown>[]) {
          const n = str(x?.name)
          if (!n || n.length > 64) continue
          const known = peers.has(n)
          const row = peer(n, str(x.role), at)
          if (!known) { row.state = 'starting'; row.events = 0 }
          const bh = str(x.behaviour); if (bh) row.behaviour = bh
        }
        break
      }
      case 'keep-alive': say(at, undefined, e.kind, 'keep-alive: the chain, the publisher and the caches keep running'); break
      case 'chain': chain.rpcUrl = str(e.rpcUrl) ?? chain.rpcUrl; say(at, undefined, e.kind, `chain JSON-RPC at ${chain.rpcUrl}`); break
      case 'deployed': {
        const put = (n: string, v: unknown) => { const a = addr(v); if (a) chain.contracts[n] = a }
        const c = (e.contracts ?? {}) as Record<string, Record<string, unknown>>
        if (typeof c === 'object' && c) {
          put('TicketBroker', c.lottery?.ticketBroker); put('PaymentChannel', c.channel?.paymentChannel); put('ConcurrentLottery', c.microcash?.concurrentLottery)
        }
        put('SoukToken', e.token); put('StorageMarket', e.storageMarket); put('WorkMarket', e.workMarket)
        if (e.storageMarket) market ??= 'storage'
        if (e.workMarket) market ??= 'compute'
        say(at, undefined, e.kind, `contracts deployed: ${Object.keys(chain.contracts).join(', ')}`)
        break
      }
      case 'listening': {
        if (p) setState(p, 'listening', at)
        if (p) { const id = str(e.peerId); if (id) { p.peerId = id; peerByPeerId.set(id, p.name); learnAddress(p.name, addressByPeerId.get(id)) } }
        say(at, name, e.kind, `${name} (${e.role ?? '?'}) is up`)
        break
      }
      case 'ready': case 'published': case 'offering': case 'checking': {
        if (p) {
          setState(p, 'ready', at)
          const b2 = str(e.behaviour); if (b2) p.behaviour = b2
          learnAddress(p.name, addr(e.provider) ?? addr(e.worker) ?? addr(e.verifier) ?? addr(e.payer))
        }
        say(at, name, e.kind, `${name} ready`)
        break
      }
      case 'stats': {
        if (p) { setState(p, 'stopped', at); learnAddress(p.name, addr(e.payee) ?? addr(e.worker) ?? addr(e.verifier)) }
        const pay = (e.payments ?? {}) as Record<string, unknown>
        if (name && pay && big(pay.faceValue) > 0n && payouts.has(name)) payout(name).faceValue ??= big(pay.faceValue)
        const st = (e.stats ?? {}) as Record<string, unknown>
        if (e.role === 'client' && st && typeof st === 'object') traffic.bytesVerified += num(st.bytesVerified)
        say(at, name, e.kind, `${name} stopped`)
        break
      }
      case 'crashed': if (p) { p.state = 'crashed'; p.since = at } say(at, name, e.kind, `${name} crashed (code ${str(e.code) ?? '?'})`); break
      case 'summary': status = 'finished'; ok = e.ok === true; say(at, undefined, e.kind, `run finished: ${ok ? 'OK' : 'NOT OK'}`); break
      case 'chain-block': {
        const n = num(e.number)
        chain.block = chain.block === null ? n : Math.max(chain.block, n)
        chain.blocks++
        const txs = num(e.transactions), gas = big(e.gasUsed)
        chain.transactions += txs
        chain.gasUsed += gas
        const bk = b(); bk.txs += txs; bk.gas += Number(gas)
        break
      }
      case 'chain-log': applyChainLog(e, at); break

      // --- cdn
      case 'deal': {
        const cache = cdnCache(e)
        const id = `cdn:${str(e.cache) ?? '?'}`
        deal(id, at, { state: 'agreed', client: name, server: cache, price: str(e.pricePerChunk) })
        say(at, name, e.kind, `deal with ${cache} at ${souk(e.pricePerChunk)} a chunk`)
        break
      }
      case 'cache-hired': { const cache = cdnCache(e); deal(`cdn:${str(e.cache) ?? '?'}`, at, { state: 'hired', client: name, server: cache, price: str(e.pricePerChunk) }); break }
      case 'cache-ready': deal(`cdn:${str(e.cache) ?? '?'}`, at, { state: 'serving' }); break
      // A served chunk owes a delivery proof (the bundle's puzzle secret); a paid claim is that proof, checked.
      case 'served': traffic.bytesServed += num(e.bytes); b().bytes += num(e.bytes); if (name) proof(name).due++; break
      case 'claim-unpaid': if (name) proof(name).skipped++; break
      case 'bundle-done': traffic.bundles++; break
      case 'paid': {
        if (!name) break
        const po = payout(name)
        const c = big(e.credited)
        const f = big(e.faceValue)
        po.tickets++
        po.expected += c
        proof(name).proven++
        if (f > 0n) po.faceValue = f
        if (e.winning === true) po.won++
        // Bernoulli payout: F with probability c/F, so variance c·(F − c). Face value unknown yet: kept for later.
        if (po.faceValue && po.faceValue >= c) po.variance += c * (po.faceValue - c)
        else po.pendingVar.push(c)
        b().payments++
        if (e.winning === true) say(at, name, e.kind, `${name} got a winning ticket`)
        break
      }
      case 'forged-claim': if (name && e.paid !== true) caught(name, e.role, 'forged claims refused'); break
      case 'shortcut-failed': if (name) caught(name, e.role, 'tried to solve without the honest caches'); break
      case 'cut-off': if (name) { caught(name, e.role, 'stopped paying: cut off'); say(at, name, e.kind, `${name} cut off: ${str(e.reason) ?? ''}`) } break

      // --- storage
      case 'deal-signed': {
        const id = str(e.dealId)
        if (id && name) {
          if (!dealProvider.has(id)) proof(name).due += num(e.periods)
          dealProvider.set(id, name)
          deal(id, at, { state: 'signed', server: name, client: nameByAddress.get(addr(e.client) ?? '') ?? short(e.client), price: str(e.pricePerPeriod) ?? str(e.pricePerUnit) })
        }
        break
      }
      case 'deal-opened': { const id = str(e.dealId); if (id) deal(id, at, { state: 'opened', client: name, price: str(e.pricePerPeriod) }); say(at, name, e.kind, `${name} opened deal ${short(id)}`); break }
      case 'deal-active': case 'deal-stored': { const id = str(e.dealId); if (id) deal(id, at, { state: 'active' }); break }
      case 'deal-ended': { const id = str(e.dealId); if (id) deal(id, at, { state: 'ended' }); say(at, name, e.kind, `deal ${short(id)} ended: ${num(e.proven)} proven, ${num(e.faulted)} faulted`); break }
      case 'period-proven': { if (name) proof(name).proven++; b().proofs++; break }
      case 'period-skipped': { if (name) proof(name).skipped++; break }
      case 'fault-called': case 'period-faulted': {
        const id = str(e.dealId) ?? '?'
        fault(dealProvider.get(id) ?? (e.role === 'provider' ? name : undefined), `storage:${id}:${num(e.period)}`, 0n)
        say(at, name, e.kind, `period ${num(e.period)} of deal ${short(id)} faulted: collateral slashed`)
        break
      }

      // --- compute
      case 'job-signed': {
        const id = str(e.jobId)
        if (id && name) { dealProvider.set(id, name); deal(id, at, { state: 'signed', server: name, client: nameByAddress.get(addr(e.client) ?? '') ?? short(e.client), price: str(e.pricePerUnit) }) }
        break
      }
      case 'job-opened': { const id = str(e.jobId); if (id) { deal(id, at, { state: 'opened', client: name, price: str(e.pricePerUnit) }); jobSlash.set(id, big(e.slash)) } say(at, name, e.kind, `${name} opened job ${short(id)} (${num(e.units)} units)`); break }
      case 'work-claimed': { if (name) proof(name).due++; b().proofs++; const id = str(e.jobId); if (id) deal(id, at, { state: 'working' }); break }
      case 'batches-settled': { if (name) proof(name).proven += Array.isArray(e.batches) ? e.batches.length : 1; break }
      case 'batch-faulted': {
        const id = str(e.jobId) ?? '?'
        const worker = dealProvider.get(id) ?? (e.role === 'worker' ? name : undefined)
        fault(worker, `compute:${id}:${num(e.batch)}`, big(e.slashed) || (jobSlash.get(id) ?? 0n))
        if (e.reasons) say(at, name, e.kind, `batch ${num(e.batch)} of job ${short(id)} faulted: stake slashed`)
        break
      }
      case 'job-ended': case 'job-finalized': { const id = str(e.jobId); if (id) deal(id, at, { state: 'ended' }); break }
      default: break
    }
  }

  return {
    apply(raw, at) {
      events++
      const r = DashboardEvent.safeParse(raw)
      if (!r.success) { byKind.set('invalid', (byKind.get('invalid') ?? 0) + 1); return }
      const e = r.data
      startedAt ??= at
      updatedAt = at
      if (status === 'waiting') status = 'running'
      byKind.set(e.kind, (byKind.get(e.kind) ?? 0) + 1)
      try { applyOne(e, at) } catch { byKind.set('invalid', (byKind.get('invalid') ?? 0) + 1) }
    },
    snapshot() {
      const roles: Record<string, number> = {}
      for (const p of peers.values()) roles[p.role] = (roles[p.role] ?? 0) + 1
      const byState: Record<string, number> = {}
      for (const d of deals.values()) byState[d.state] = (byState[d.state] ?? 0) + 1
      let exp = 0n, aw = 0n, tickets = 0, won = 0
      const servers: PayoutRow[] = [...payouts.values()].sort((a, b) => a.name.localeCompare(b.name)).map((po) => {
        if (po.faceValue && po.pendingVar.length) { for (const c of po.pendingVar) if (po.faceValue >= c) po.variance += c * (po.faceValue - c); po.pendingVar = [] }
        const awarded = po.faceValue ? po.faceValue * BigInt(po.won) : 0n
        const sigma = po.faceValue ? isqrt(po.variance) : null
        const low = sigma === null ? null : po.expected > 2n * sigma ? po.expected - 2n * sigma : 0n
        const high = sigma === null ? null : po.expected + 2n * sigma
        exp += po.expected; aw += awarded; tickets += po.tickets; won += po.won
        return {
          name: po.name, address: po.address, tickets: po.tickets, won: po.won, expected: po.expected.toString(), awarded: awarded.toString(),
          onChain: (po.address ? onChainTo.get(po.address) ?? 0n : 0n).toString(), faceValue: po.faceValue?.toString(),
          sigma: sigma?.toString() ?? null, low: low?.toString() ?? null, high: high?.toString() ?? null,
          inBand: low === null || high === null || !po.faceValue ? null : awarded >= low && awarded <= high,
        }
      })
      const onChainTotal = servers.reduce((s, r) => s + BigInt(r.onChain), 0n)
      const t: number[] = [], bytes: number[] = [], payments: number[] = [], txs: number[] = [], gas: number[] = [], pr: number[] = []
      if (buckets.size) {
        for (let s = Math.max(0, lastBucket - SERIES_SECONDS + 1); s <= lastBucket; s++) {
          const v = buckets.get(s)
          t.push(s); bytes.push(v?.bytes ?? 0); payments.push(v?.payments ?? 0); txs.push(v?.txs ?? 0); gas.push(v?.gas ?? 0); pr.push(v?.proofs ?? 0)
        }
      }
      return {
        version: 1, market, scheme, status, ok, startedAt, updatedAt, events,
        eventsByKind: Object.fromEntries([...byKind].sort(([a], [b]) => a.localeCompare(b))),
        chain: {
          rpcUrl: chain.rpcUrl, dataDir: chain.dataDir, deploymentPath: chain.deploymentPath, contracts: { ...chain.contracts }, accounts: chain.accounts.map((a) => ({ ...a })),
          block: chain.block, blocks: chain.blocks, transactions: chain.transactions, gasUsed: chain.gasUsed.toString(),
          eventsByName: Object.fromEntries([...chainEvents].sort(([a], [b]) => a.localeCompare(b))), recent: recentChain.map((r) => ({ ...r })),
        },
        peers: [...peers.values()].map((p) => ({ ...p })).sort((a, b) => a.role.localeCompare(b.role) || a.name.localeCompare(b.name, 'en', { numeric: true })),
        roles,
        deals: { byState, list: [...deals.values()].map((d) => { const id = dealPeerId.get(d.id); return { ...d, server: (id && peerByPeerId.get(id)) || d.server } }) },
        payments: { ticketsIssued: tickets, won, redeemed, redeemTransactions: redeemTxs.size, expected: exp.toString(), awarded: aw.toString(), onChain: onChainTotal.toString(), servers },
        traffic: { ...traffic },
        proofs: {
          providers: [...proofs].map(([n, p]) => ({ name: n, due: p.due, proven: p.proven, faulted: p.faulted, skipped: p.skipped, slashed: p.slashed.toString() })).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true })),
          slashes, slashed: (slashed + chainSlashed).toString(),
        },
        cheaters: [...cheaters.values()].map((c) => ({ ...c })),
        series: { t, bytes, payments, txs, gas, proofs: pr },
        log: log.map((l) => ({ ...l })),
      }
    },
  }
}

/** A peer's role from its testnet name (`cache-3` → cache), for events that do not say it. */
function roleOf(name: string): string {
  const m = /^([a-z]+)(-\d+)?$/.exec(name)
  return m ? m[1] : '?'
}
