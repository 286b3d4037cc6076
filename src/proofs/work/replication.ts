/**
 * Spot-check replication with commit-reveal (issue 13): the k checkers of a challenged unit each re-execute it and
 * commit before anyone reveals, so no checker can copy another's answer; mismatches escalate with the set of
 * parties that disagree. Pure: no I/O, no clock, salts from an injected {@link Rng}.
 *
 * Spec (souk.compute v1):
 * - **Replica commitment** (the shared format):
 *   `keccak256(abi.encode(bytes32 jobId, uint256 batch, uint256 unit, bytes32 value, bytes32 salt, address checker))`
 *   (192 bytes hashed; {@link replicaCommitment}). The checker's address is inside, so a copied commitment opens
 *   for nobody but its author, and the round (jobId, batch, unit) is inside, so a commitment of another round fails.
 * - **Modes**. `exact`: `value` is the outputHash (keccak256 of the output bytes) of the checker's own
 *   re-execution; outputs that are byte-exact (sharp's are) are compared by hash. `verdict`: for outputs that are
 *   not byte-exact, checkers compare verdicts about the worker's claimed output instead, and
 *   `value = verdictValue(claimedOutputHash, verdict) = keccak256("souk/compute/replica-verdict/v1" ‖
 *   claimedOutputHash ‖ uint8(1 ok | 2 bad))` ({@link verdictCommitment}). With two possible verdicts the 32-byte
 *   random salt is what hides the answer: it must come from a CSPRNG in production.
 * - **Round** ({@link ReplicationRound}): phase `commit` until every one of the k checkers has committed (an unknown
 *   checker, a second commitment, or a commitment already made by another checker is refused); then phase `reveal`,
 *   where each reveal must open its author's commitment for this round (a reveal during `commit`, a second reveal,
 *   or one that does not match is refused, and leaves the round unchanged). `tally()` once every checker revealed
 *   (or with `allowMissing` after the caller's deadline): all agree → `unanimous` with a decision (`verdict` mode:
 *   ok → pass, bad → fault; `exact` mode: equal to the worker's claimed outputHash → pass, else fault, or `agree`
 *   when no claim was given); any disagreement or missing reveal → `escalate` with the groups, the checkers outside
 *   the plurality (`disagreeing`; all revealers when the plurality is tied) and the `missing` ones.
 *
 * @example
 * ```ts
 * import { ReplicationRound, commitReplica } from './src/proofs/work/replication.js'
 * import { seededRng } from './src/crypto/rng.js'
 * const round = new ReplicationRound({ jobId, batch: 0, unit: 5, checkers: [a, b, c], mode: 'verdict', claimedOutputHash })
 * const mine = commitReplica({ jobId, batch: 0, unit: 5, checker: a, outputHash: claimedOutputHash, verdict: 'bad' }, seededRng('a'))
 * round.commit(a, mine.commitment)            // …and b and c commit theirs; only then:
 * round.reveal(a, mine.reveal)                // { verdict: 'bad', salt }
 * round.tally()                               // { kind: 'unanimous', decision: 'fault', … } when b and c said bad too
 * ```
 */
import type { Address, Hex } from 'viem'
import { keccak256 } from '../../crypto/keccak.js'
import { bytesToHex, writeWord } from '../../crypto/bytes.js'
import type { Rng } from '../../crypto/rng.js'
import { abytes32, type Bytes32 } from './tree.js'
import {
  CommitmentReusedError, DuplicateCommitmentError, DuplicateRevealError, ReplicationParamsError, RevealBeforeCommitmentsError, RevealMismatchError,
  RoundIncompleteError, UnknownCheckerError,
} from './replication-errors.js'

export * from './replication-errors.js'

/** Domain tag of {@link verdictValue}. */
export const REPLICA_VERDICT_TAG = 'souk/compute/replica-verdict/v1'
/** Salt length: 32 random bytes. */
export const REPLICA_SALT_BYTES = 32
/** Most checkers in one round (terms.checkers is a short list; a round tallies them all). */
export const MAX_REPLICATION_CHECKERS = 64

export type ReplicationMode = 'exact' | 'verdict'
export type ReplicaVerdict = 'ok' | 'bad'

const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const MAX_UINT256 = (1n << 256n) - 1n
const TAG_BYTES = new TextEncoder().encode(REPLICA_VERDICT_TAG)

function aaddress(v: unknown, title: string): Address {
  if (typeof v !== 'string') throw new TypeError(`${title} must be an address string, got ${v === null ? 'null' : typeof v}`)
  if (!ADDRESS.test(v)) throw new RangeError(`${title} must be 0x and 40 hex digits, got ${v.length > 50 ? `${v.slice(0, 50)}…` : v}`)
  return v.toLowerCase() as Address
}

function auint(v: unknown, title: string): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${title} must be a non-negative safe integer, got ${v}`)
    return BigInt(v)
  }
  if (typeof v === 'bigint') {
    if (v < 0n || v > MAX_UINT256) throw new RangeError(`${title} must be a uint256, got ${v}`)
    return v
  }
  throw new TypeError(`${title} must be a number or a bigint, got ${v === null ? 'null' : typeof v}`)
}

function averdict(v: unknown): ReplicaVerdict {
  if (v !== 'ok' && v !== 'bad') throw new RangeError(`verdict must be 'ok' or 'bad', got ${String(v)}`)
  return v
}

export interface ReplicaCommitmentParameters {
  jobId: Bytes32
  batch: number | bigint
  unit: number | bigint
  /** The committed value: the re-execution's outputHash (`exact`), or {@link verdictValue} (`verdict`). */
  outputHash: Bytes32
  salt: Bytes32
  checker: Address
}

/** `keccak256(abi.encode(jobId, uint256 batch, uint256 unit, outputHash, salt, address checker))` (0x-hex). */
export function replicaCommitment(p: ReplicaCommitmentParameters): Hex {
  const buf = new Uint8Array(192)
  buf.set(abytes32(p.jobId, 'jobId'), 0)
  writeWord(buf, 32, auint(p.batch, 'batch'))
  writeWord(buf, 64, auint(p.unit, 'unit'))
  buf.set(abytes32(p.outputHash, 'outputHash'), 96)
  buf.set(abytes32(p.salt, 'salt'), 128)
  // writeAddress would do; inline to keep the assert's message.
  buf.set(Buffer.from(aaddress(p.checker, 'checker').slice(2), 'hex'), 172)
  return bytesToHex(keccak256(buf))
}

/** The value a `verdict`-mode checker commits to: `keccak256(TAG ‖ claimedOutputHash ‖ uint8(1 ok | 2 bad))`. */
export function verdictValue(claimedOutputHash: Bytes32, verdict: ReplicaVerdict): Hex {
  const buf = new Uint8Array(TAG_BYTES.length + 33)
  buf.set(TAG_BYTES, 0)
  buf.set(abytes32(claimedOutputHash, 'outputHash'), TAG_BYTES.length)
  buf[TAG_BYTES.length + 32] = averdict(verdict) === 'ok' ? 1 : 2
  return bytesToHex(keccak256(buf))
}

/** A `verdict`-mode commitment: {@link replicaCommitment} of {@link verdictValue}(outputHash, verdict). `outputHash` is the worker's claim. */
export function verdictCommitment(p: Omit<ReplicaCommitmentParameters, 'outputHash'> & { outputHash: Bytes32; verdict: ReplicaVerdict }): Hex {
  return replicaCommitment({ jobId: p.jobId, batch: p.batch, unit: p.unit, outputHash: verdictValue(p.outputHash, p.verdict), salt: p.salt, checker: p.checker })
}

/** 32 fresh salt bytes from `rng` (0x-hex). */
export function replicaSalt(rng: Rng): Hex {
  const s = rng(REPLICA_SALT_BYTES)
  if (!(s instanceof Uint8Array) || s.length !== REPLICA_SALT_BYTES) throw new RangeError(`rng must return ${REPLICA_SALT_BYTES} bytes`)
  return bytesToHex(s)
}

/** What a checker reveals: its re-execution's outputHash (`exact`) or its verdict (`verdict`), and the salt. */
export type ReplicaReveal = { outputHash: Hex; salt: Hex } | { verdict: ReplicaVerdict; salt: Hex }

/**
 * A checker's commitment and the reveal that opens it. `verdict` given: a `verdict`-mode commitment about the
 * worker's claimed `outputHash`; absent: an `exact`-mode commitment to `outputHash` (the checker's own).
 */
export function commitReplica(
  p: { jobId: Bytes32; batch: number | bigint; unit: number | bigint; checker: Address; outputHash: Bytes32; verdict?: ReplicaVerdict },
  rng: Rng,
): { commitment: Hex; reveal: ReplicaReveal } {
  const salt = replicaSalt(rng)
  if (p.verdict !== undefined) {
    return { commitment: verdictCommitment({ ...p, verdict: p.verdict, salt }), reveal: { verdict: p.verdict, salt } }
  }
  return { commitment: replicaCommitment({ ...p, salt }), reveal: { outputHash: bytesToHex(abytes32(p.outputHash, 'outputHash')), salt } }
}

// ---------------------------------------------------------------------------------------------------------------
// The round

export interface ReplicationRoundParameters {
  jobId: Bytes32
  batch: number | bigint
  unit: number | bigint
  /** The k checkers, distinct addresses (case-insensitive). */
  checkers: readonly Address[]
  mode: ReplicationMode
  /** The worker's claimed outputHash for the unit: required in `verdict` mode; in `exact` mode, what a unanimous value is compared to. */
  claimedOutputHash?: Bytes32
}

export type ReplicationPhase = 'commit' | 'reveal'

export interface ReplicaGroup {
  /** The committed value (outputHash or verdictValue). */
  value: Hex
  /** In `verdict` mode. */
  verdict?: ReplicaVerdict
  checkers: Address[]
}

export type ReplicationOutcome =
  | { kind: 'unanimous'; decision: 'pass' | 'fault' | 'agree'; value: Hex; verdict?: ReplicaVerdict; checkers: Address[] }
  | {
      kind: 'escalate'
      /** Revealed values, largest group first (ties in checker order). */
      groups: ReplicaGroup[]
      /** The plurality's value; undefined when tied or nobody revealed. */
      plurality?: Hex
      /** Checkers that revealed a value other than the plurality's (every revealer when there is none). */
      disagreeing: Address[]
      /** Checkers that committed but did not reveal (with `allowMissing`). */
      missing: Address[]
    }

interface Entry { commitment?: Hex; value?: Hex; verdict?: ReplicaVerdict }

/** The commit-reveal state machine of one challenged unit among its k checkers. See the module header. */
export class ReplicationRound {
  readonly jobId: Hex
  readonly batch: bigint
  readonly unit: bigint
  readonly mode: ReplicationMode
  readonly claimedOutputHash?: Hex
  /** The checkers, lower-cased, in the order given. */
  readonly checkers: readonly Address[]
  private readonly entries = new Map<Address, Entry>()
  private readonly byCommitment = new Map<Hex, Address>()
  private committed = 0

  constructor(p: ReplicationRoundParameters) {
    try {
      this.jobId = bytesToHex(abytes32(p.jobId, 'jobId'))
      this.batch = auint(p.batch, 'batch')
      this.unit = auint(p.unit, 'unit')
      if (p.mode !== 'exact' && p.mode !== 'verdict') throw new RangeError(`mode must be 'exact' or 'verdict', got ${String(p.mode)}`)
      this.mode = p.mode
      if (p.claimedOutputHash !== undefined) this.claimedOutputHash = bytesToHex(abytes32(p.claimedOutputHash, 'claimedOutputHash'))
      if (!Array.isArray(p.checkers) || p.checkers.length < 1 || p.checkers.length > MAX_REPLICATION_CHECKERS) {
        throw new RangeError(`checkers must list 1..${MAX_REPLICATION_CHECKERS} addresses, got ${Array.isArray(p.checkers) ? p.checkers.length : typeof p.checkers}`)
      }
      this.checkers = Object.freeze(p.checkers.map((c, i) => aaddress(c, `checkers[${i}]`)))
    } catch (e) {
      throw new ReplicationParamsError(`Bad replication round: ${(e as Error).message}`, { cause: e })
    }
    if (this.mode === 'verdict' && this.claimedOutputHash === undefined) throw new ReplicationParamsError('A verdict-mode round needs the worker\'s claimedOutputHash: verdicts are about it')
    for (const c of this.checkers) {
      if (this.entries.has(c)) throw new ReplicationParamsError(`Checker listed twice: ${c}`, { details: { checker: c } })
      this.entries.set(c, {})
    }
  }

  /** k, the number of checkers. */
  get k(): number { return this.checkers.length }

  /** `commit` until all k commitments are in, then `reveal`. */
  get phase(): ReplicationPhase { return this.committed === this.k ? 'reveal' : 'commit' }

  /** Checkers that have revealed, in checker order. */
  get revealed(): Address[] { return this.checkers.filter((c) => this.entries.get(c)!.value !== undefined) }

  private entry(checker: Address): [Address, Entry] {
    let c: Address
    try { c = aaddress(checker, 'checker') } catch { throw new UnknownCheckerError(String(checker)) }
    const e = this.entries.get(c)
    if (!e) throw new UnknownCheckerError(c)
    return [c, e]
  }

  /** Records `checker`'s commitment. Throws UnknownChecker, DuplicateCommitment, CommitmentReused or ReplicationParams errors. */
  commit(checker: Address, commitment: Bytes32): void {
    const [c, e] = this.entry(checker)
    let h: Hex
    try { h = bytesToHex(abytes32(commitment, 'commitment')) } catch (err) { throw new ReplicationParamsError((err as Error).message, { cause: err }) }
    if (e.commitment !== undefined) throw new DuplicateCommitmentError(c)
    const owner = this.byCommitment.get(h)
    if (owner !== undefined) throw new CommitmentReusedError(c, owner, h)
    e.commitment = h
    this.byCommitment.set(h, c)
    this.committed++
  }

  /**
   * Opens `checker`'s commitment. Only in phase `reveal`. Throws RevealBeforeCommitments, UnknownChecker,
   * DuplicateReveal or RevealMismatch errors; a refused reveal changes nothing.
   */
  reveal(checker: Address, r: ReplicaReveal): void {
    const [c, e] = this.entry(checker)
    if (this.phase !== 'reveal') throw new RevealBeforeCommitmentsError(c, this.committed, this.k)
    if (e.value !== undefined) throw new DuplicateRevealError(c)
    const commitment = e.commitment!
    const rr = r as Partial<{ outputHash: unknown; verdict: unknown; salt: unknown }>
    let value: Hex, verdict: ReplicaVerdict | undefined
    try {
      if (this.mode === 'verdict') {
        if (rr.verdict === undefined) throw new RangeError('a verdict-mode reveal carries a verdict')
        verdict = averdict(rr.verdict)
        value = verdictValue(this.claimedOutputHash!, verdict)
      } else {
        if (rr.outputHash === undefined) throw new RangeError('an exact-mode reveal carries an outputHash')
        value = bytesToHex(abytes32(rr.outputHash, 'outputHash'))
      }
      const opened = replicaCommitment({ jobId: this.jobId, batch: this.batch, unit: this.unit, outputHash: value, salt: abytes32(rr.salt, 'salt'), checker: c })
      if (opened !== commitment) throw new RangeError('the value, salt or round differs from what was committed')
    } catch (err) {
      throw new RevealMismatchError(c, commitment, (err as Error).message.split('\n')[0])
    }
    e.value = value.toLowerCase() as Hex
    e.verdict = verdict
  }

  /**
   * The outcome. Throws {@link RoundIncompleteError} while commitments are missing, and while reveals are missing
   * unless `allowMissing` (the caller's reveal deadline has passed: the missing checkers escalate).
   */
  tally(o: { allowMissing?: boolean } = {}): ReplicationOutcome {
    if (this.phase !== 'reveal') throw new RoundIncompleteError(`${this.committed} of ${this.k} commitments`, { committed: this.committed, k: this.k })
    const revealed = this.revealed
    const missing = this.checkers.filter((c) => this.entries.get(c)!.value === undefined)
    if (missing.length > 0 && !o.allowMissing) throw new RoundIncompleteError(`${revealed.length} of ${this.k} reveals`, { missing })
    const groups: ReplicaGroup[] = []
    for (const c of revealed) {
      const e = this.entries.get(c)!
      let g = groups.find((x) => x.value === e.value)
      if (!g) { g = { value: e.value!, ...(e.verdict ? { verdict: e.verdict } : {}), checkers: [] }; groups.push(g) }
      g.checkers.push(c)
    }
    groups.sort((a, b) => b.checkers.length - a.checkers.length) // stable: ties keep first-revealer order
    if (missing.length === 0 && groups.length === 1) {
      const g = groups[0]
      const decision = this.mode === 'verdict'
        ? (g.verdict === 'ok' ? 'pass' : 'fault')
        : this.claimedOutputHash === undefined ? 'agree' : g.value === this.claimedOutputHash ? 'pass' : 'fault'
      return { kind: 'unanimous', decision, value: g.value, ...(g.verdict ? { verdict: g.verdict } : {}), checkers: [...g.checkers] }
    }
    const tied = groups.length === 0 || (groups.length > 1 && groups[0].checkers.length === groups[1].checkers.length)
    const plurality = tied ? undefined : groups[0].value
    const disagreeing = revealed.filter((c) => this.entries.get(c)!.value !== plurality)
    return { kind: 'escalate', groups, ...(plurality ? { plurality } : {}), disagreeing, missing }
  }
}
