/**
 * Server reputation with forgetting, built only from facts this peer can verify.
 *
 * Spec:
 * - Per server (its payee address, lower-cased), a beta reputation (alpha, beta) updated as Storj's audit
 *   reputation: for an observation of weight w and value v (+1 success, -1 failure),
 *   ```
 *   alpha <- l * alpha + w * (1 + v) / 2
 *   beta  <- l * beta  + w * (1 - v) / 2
 *   score  = alpha / (alpha + beta)
 *   ```
 *   with the forgetting factor l (`forgetting`, default 0.999 as Storj): an observation k steps old weighs l^k,
 *   so old failures fade and alpha + beta never exceeds max(alpha0 + beta0, w_max / (1 - l)).
 * - The prior is (alpha0, beta0) = (`initialAlpha`, `initialBeta`), default (1, 1): a server with no history scores
 *   0.5, below every server with a decent record, so a fresh identity cannot outrank a proven one. (Storj starts
 *   at (1000, 0); that makes a new node hard to disqualify but takes ~1,400 observations to learn a 20% fault rate:
 *   see docs/market.md, Reputation for the measured trade-off.)
 * - Facts (`Fact`), each with the `source` that makes it verifiable, and nothing else:
 *   - `source: 'self'`, checked by this peer itself: `proof-passed` (v = +1) / `proof-missed` (v = -1), a proof it
 *     verified; `chunk-delivered-paid` (+1) / `chunk-undelivered` (-1), from its own exchange. Weight `weight`.
 *   - `source: 'chain'`, read from the chain: `slashed` with the event's `txHash` and `logIndex`: a failure of weight
 *     `slashWeight` (default 20: one slash weighs as much as 20 missed proofs; a young server is disqualified by one,
 *     a perfect one with 3,000 observations (alpha ~ 950) by three back to back: score 0.940, + 2 sd = 0.955 < 0.96,
 *     while two leave it at 0.960, + 2 sd = 0.972). The same (txHash, logIndex) counts once (re-reading the chain is idempotent);
 *     `observe` then returns false.
 *   Anything else (a report from another peer, unsigned gossip, a proof "from the chain", a slash "from self", an
 *   unknown kind) is refused with `ReputationRefusedError('unverifiable')`; a known fact with bad fields with
 *   `ReputationRefusedError('malformed')`. A refused fact changes nothing.
 * - `status(server)`: 'new' while it has fewer than `vettingObservations` (100) observations; then 'vetted', or
 *   'disqualified' from the first observation at which its score is below `disqualifyBelow` (0.96) with confidence:
 *   ```
 *   score + z * sd < disqualifyBelow,   sd = sqrt(score * (1 - score) / (alpha + beta + 1))
 *   ```
 *   (sd is the standard deviation of the Beta(alpha, beta) posterior; z = `disqualifyConfidence`, default 2). z = 0 is
 *   the plain rule "score below the threshold". With z = 2 an honest server of fault rate <= 3% is (almost) never
 *   disqualified by bad luck, while one failing 10% or more is still disqualified as soon as it is vetted (figures in
 *   docs/market.md, Reputation). Because forgetting caps alpha + beta near 1/(1-l), the rule disqualifies, in the long
 *   run, servers whose fault rate exceeds about 5.4% (0.946 + 2·sqrt(0.946·0.054/1001) = 0.96).
 *   Disqualification is permanent (as Storj's): later successes do not lift it.
 * - At most `maxServers` (100,000) servers are remembered; beyond, the least recently observed one that is not
 *   disqualified is forgotten (a disqualified server is forgotten last, so evicting it cannot be used as an amnesty).
 * - `snapshot()` returns plain JSON-safe values (numbers, strings, null); `restore(s)` validates one and replaces the
 *   whole state with it (a bad one: `ValidationError`, state unchanged).
 *
 * @example
 * ```ts
 * import { createReputation } from './reputation.js'
 * import { manualClock } from '../core/clock.js'
 * const rep = createReputation({ clock: manualClock(0) })
 * rep.observe('0x1111111111111111111111111111111111111111', { kind: 'proof-passed', source: 'self' })
 * rep.score('0x1111111111111111111111111111111111111111')   // (0.999 + 1) / (0.999 + 1 + 0.999) ~ 0.667
 * rep.status('0x1111111111111111111111111111111111111111')  // 'new'
 * ```
 */
import { z } from 'zod'
import type { Clock } from '../core/clock.js'
import { ValidationError } from '../core/errors.js'
import { MarketError } from './errors.js'

/** A fact this peer checked itself. `ref` optionally names what was checked (a challenge, a chunk), for logs. */
export type SelfFact = {
  kind: 'proof-passed' | 'proof-missed' | 'chunk-delivered-paid' | 'chunk-undelivered'
  source: 'self'
  ref?: string
}
/** A slash event read from the chain. */
export type ChainFact = { kind: 'slashed'; source: 'chain'; txHash: string; logIndex: number }
export type Fact = SelfFact | ChainFact
export type FactKind = Fact['kind']

export type ServerStatus = 'new' | 'vetted' | 'disqualified'

/** Why a fact was refused. */
export type ReputationRefuseReason =
  /** Not a fact this peer can verify: another peer's report, gossip, a kind/source pair that does not exist. */
  | 'unverifiable'
  /** A known fact with bad fields, or a bad server address. */
  | 'malformed'

export class ReputationRefusedError extends MarketError {
  override name = 'ReputationRefusedError'
  constructor(readonly reason: ReputationRefuseReason, msg: string, details?: Record<string, unknown>) {
    super(`Reputation fact refused (${reason}): ${msg}`, { code: `REPUTATION_${reason.toUpperCase()}`, details })
  }
}

export interface ReputationOptions {
  clock: Clock
  /** Forgetting factor l in (0, 1] (default 0.999, Storj's). 1: never forget. */
  forgetting?: number
  /** Weight w of one self-checked fact (default 1). */
  weight?: number
  /** Weight of one slash read from the chain, as a failure (default 20). */
  slashWeight?: number
  /** Score below which a vetted server is disqualified (default 0.96, Storj's). */
  disqualifyBelow?: number
  /** Standard deviations by which the score must be below `disqualifyBelow` (default 2; 0: the plain threshold). */
  disqualifyConfidence?: number
  /** Observations before a server is vetted (default 100, Storj's). */
  vettingObservations?: number
  /** Prior alpha (default 1). */
  initialAlpha?: number
  /** Prior beta (default 1). */
  initialBeta?: number
  /** Servers remembered (default 100,000). */
  maxServers?: number
  /** Slash events remembered per server for de-duplication (default 1,024, oldest forgotten first). */
  maxSlashesPerServer?: number
}

/** One server's record. */
export interface ServerReputation {
  server: string
  alpha: number
  beta: number
  observations: number
  firstSeenMs: number
  lastSeenMs: number
  /** When it was disqualified (clock ms), or null. */
  disqualifiedAtMs: number | null
  /** Slash events counted, as `${txHash}:${logIndex}` (lower-case), oldest first. */
  slashes: string[]
}

export interface ReputationSnapshot {
  version: 1
  servers: ServerReputation[]
}

/** What a selection strategy needs of a reputation (any implementation with these two will do). */
export interface ReputationView {
  score(server: string): number
  status(server: string): ServerStatus
}

export interface Reputation extends ReputationView {
  /**
   * Counts one verified fact about `server`; false if it was already counted (a slash seen before). The fact is
   * checked at run time too (`parseFact`): anything but a `Fact` is refused with `ReputationRefusedError`.
   */
  observe(server: string, fact: Fact): boolean
  /** alpha / (alpha + beta); the prior mean for an unknown server. */
  score(server: string): number
  status(server: string): ServerStatus
  /** A copy of the server's record, or undefined. */
  get(server: string): ServerReputation | undefined
  /** Servers remembered. */
  size(): number
  snapshot(): ReputationSnapshot
  /** Replaces the whole state with `snapshot` (validated). */
  restore(snapshot: unknown): void
}

export const REPUTATION_DEFAULTS = {
  forgetting: 0.999,
  weight: 1,
  slashWeight: 20,
  disqualifyBelow: 0.96,
  disqualifyConfidence: 2,
  vettingObservations: 100,
  initialAlpha: 1,
  initialBeta: 1,
  maxServers: 100_000,
  maxSlashesPerServer: 1024,
} as const

const SELF_KINDS = new Set<string>(['proof-passed', 'proof-missed', 'chunk-delivered-paid', 'chunk-undelivered'])
const SUCCESS = new Set<string>(['proof-passed', 'chunk-delivered-paid'])
const ADDRESS = /^0x[0-9a-fA-F]{40}$/

const SelfFactSchema = z.object({ kind: z.enum(['proof-passed', 'proof-missed', 'chunk-delivered-paid', 'chunk-undelivered']), source: z.literal('self'), ref: z.string().max(128).optional() }).strict()
const ChainFactSchema = z.object({ kind: z.literal('slashed'), source: z.literal('chain'), txHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'a 32-byte transaction hash'), logIndex: z.number().int().nonnegative().max(2 ** 32) }).strict()

const finite = z.number().finite()
const ServerRecordSchema = z.object({
  server: z.string().regex(ADDRESS).transform((s) => s.toLowerCase()),
  alpha: finite.nonnegative(),
  beta: finite.nonnegative(),
  observations: z.number().int().nonnegative(),
  firstSeenMs: finite,
  lastSeenMs: finite,
  disqualifiedAtMs: finite.nullable(),
  slashes: z.array(z.string().regex(/^0x[0-9a-f]{64}:\d+$/)),
}).strict()
const SnapshotSchema = z.object({ version: z.literal(1), servers: z.array(ServerRecordSchema) }).strict()

function option(name: string, v: number | undefined, dflt: number, ok: (x: number) => boolean, what: string): number {
  const x = v ?? dflt
  if (typeof x !== 'number' || !ok(x)) throw new ValidationError(`reputation option ${name} must be ${what}, got ${String(v)}`, { details: { [name]: String(v) } })
  return x
}

/** Parses a fact: the typed fact, or `ReputationRefusedError`. */
export function parseFact(raw: unknown): Fact {
  if (typeof raw !== 'object' || raw === null) throw new ReputationRefusedError('malformed', 'a fact is an object with a kind and a source')
  const { kind, source } = raw as { kind?: unknown; source?: unknown }
  const selfKind = typeof kind === 'string' && SELF_KINDS.has(kind)
  if (!(selfKind && source === 'self') && !(kind === 'slashed' && source === 'chain')) {
    throw new ReputationRefusedError('unverifiable', `a ${String(kind)} fact from ${String(source)} is not one this peer can verify (only proofs and deliveries it checked itself, and slashes read from the chain)`, { kind: String(kind).slice(0, 64), source: String(source).slice(0, 64) })
  }
  const r = (selfKind ? SelfFactSchema : ChainFactSchema).safeParse(raw)
  if (!r.success) {
    const first = r.error.issues[0]
    throw new ReputationRefusedError('malformed', `${first.path.join('.') || '(root)'}: ${first.message}`)
  }
  return r.data as Fact
}

/** A reputation store: see the file header. */
export function createReputation(opts: ReputationOptions): Reputation {
  if (!opts || typeof opts.clock?.now !== 'function') throw new ValidationError('createReputation needs a clock')
  const clock = opts.clock
  const lambda = option('forgetting', opts.forgetting, REPUTATION_DEFAULTS.forgetting, (x) => x > 0 && x <= 1, 'in (0, 1]')
  const weight = option('weight', opts.weight, REPUTATION_DEFAULTS.weight, (x) => Number.isFinite(x) && x > 0, 'a positive number')
  const slashWeight = option('slashWeight', opts.slashWeight, REPUTATION_DEFAULTS.slashWeight, (x) => Number.isFinite(x) && x > 0, 'a positive number')
  const threshold = option('disqualifyBelow', opts.disqualifyBelow, REPUTATION_DEFAULTS.disqualifyBelow, (x) => x >= 0 && x <= 1, 'in [0, 1]')
  const z = option('disqualifyConfidence', opts.disqualifyConfidence, REPUTATION_DEFAULTS.disqualifyConfidence, (x) => Number.isFinite(x) && x >= 0, 'a non-negative number')
  const vetting = option('vettingObservations', opts.vettingObservations, REPUTATION_DEFAULTS.vettingObservations, (x) => Number.isSafeInteger(x) && x >= 0, 'a non-negative integer')
  const alpha0 = option('initialAlpha', opts.initialAlpha, REPUTATION_DEFAULTS.initialAlpha, (x) => Number.isFinite(x) && x >= 0, 'a non-negative number')
  const beta0 = option('initialBeta', opts.initialBeta, REPUTATION_DEFAULTS.initialBeta, (x) => Number.isFinite(x) && x >= 0, 'a non-negative number')
  if (alpha0 + beta0 <= 0) throw new ValidationError('reputation options initialAlpha + initialBeta must be positive (the prior score is alpha / (alpha + beta))')
  const maxServers = option('maxServers', opts.maxServers, REPUTATION_DEFAULTS.maxServers, (x) => Number.isSafeInteger(x) && x >= 1, 'a positive integer')
  const maxSlashes = option('maxSlashesPerServer', opts.maxSlashesPerServer, REPUTATION_DEFAULTS.maxSlashesPerServer, (x) => Number.isSafeInteger(x) && x >= 1, 'a positive integer')
  const prior = alpha0 / (alpha0 + beta0)

  /** Records, least recently observed first (a record is moved to the end on every observation). */
  let records = new Map<string, ServerReputation>()

  const key = (server: string): string => {
    if (typeof server !== 'string' || !ADDRESS.test(server)) throw new ReputationRefusedError('malformed', `a server is named by its 0x-prefixed 20-byte address, got ${String(server).slice(0, 64)}`)
    return server.toLowerCase()
  }
  const score = (r: ServerReputation) => (r.alpha + r.beta > 0 ? r.alpha / (r.alpha + r.beta) : prior)
  /** Vetted and confidently below the threshold (the file header's rule). */
  const failing = (r: ServerReputation) => {
    if (r.observations < vetting) return false
    const m = score(r)
    return m + z * Math.sqrt((m * (1 - m)) / (r.alpha + r.beta + 1)) < threshold
  }

  function evict(): void {
    if (records.size <= maxServers) return
    let victim: string | undefined
    for (const [k, r] of records) if (r.disqualifiedAtMs === null) { victim = k; break }
    records.delete(victim ?? records.keys().next().value!)
  }

  return {
    observe(server, raw) {
      const k = key(server)
      const fact = parseFact(raw as unknown)
      const now = clock.now()
      let r = records.get(k)
      const slashId = fact.kind === 'slashed' ? `${fact.txHash.toLowerCase()}:${fact.logIndex}` : undefined
      if (slashId !== undefined && r?.slashes.includes(slashId)) return false
      if (!r) r = { server: k, alpha: alpha0, beta: beta0, observations: 0, firstSeenMs: now, lastSeenMs: now, disqualifiedAtMs: null, slashes: [] }
      const w = fact.kind === 'slashed' ? slashWeight : weight
      const v = SUCCESS.has(fact.kind) ? 1 : -1
      r.alpha = lambda * r.alpha + (w * (1 + v)) / 2
      r.beta = lambda * r.beta + (w * (1 - v)) / 2
      r.observations += 1
      r.lastSeenMs = now
      if (slashId !== undefined) {
        r.slashes.push(slashId)
        if (r.slashes.length > maxSlashes) r.slashes.shift()
      }
      if (r.disqualifiedAtMs === null && failing(r)) r.disqualifiedAtMs = now
      records.delete(k)
      records.set(k, r)
      evict()
      return true
    },
    score(server) {
      const r = records.get(key(server))
      return r ? score(r) : prior
    },
    status(server) {
      const r = records.get(key(server))
      if (!r) return 'new'
      if (r.observations < vetting) return r.disqualifiedAtMs !== null ? 'disqualified' : 'new'
      return r.disqualifiedAtMs !== null || failing(r) ? 'disqualified' : 'vetted'
    },
    get(server) {
      const r = records.get(key(server))
      return r ? { ...r, slashes: [...r.slashes] } : undefined
    },
    size: () => records.size,
    snapshot() {
      return { version: 1, servers: [...records.values()].map((r) => ({ ...r, slashes: [...r.slashes] })) }
    },
    restore(raw) {
      const p = SnapshotSchema.safeParse(raw)
      if (!p.success) {
        const first = p.error.issues[0]
        throw new ValidationError(`not a reputation snapshot: ${first.path.join('.') || '(root)'}: ${first.message}`, { details: { issues: p.error.issues.length } })
      }
      const next = new Map<string, ServerReputation>()
      for (const r of p.data.servers) {
        next.delete(r.server)
        next.set(r.server, { ...r, slashes: r.slashes.slice(-maxSlashes) })
      }
      records = next
      while (records.size > maxServers) evict()
    },
  }
}
