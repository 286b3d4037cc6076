/**
 * Lottery tickets off chain: the EIP-712 digest (byte-identical to TicketBroker.ticketDigest), signing, and the
 * win draw keccak256(r ‖ s ‖ v ‖ recipientRand) < winProb. Written over raw bytes with the native keccak: this is
 * the payee's hot path.
 *
 * @example
 * ```ts
 * import { ticketDigest, ticketDomain, signTicket, isWinningTicket } from './ticket.js'
 * const domain = ticketDomain(31337, broker)
 * const sig = signTicket(domain, ticket, senderKey)
 * isWinningTicket(sig, rand, ticket.winProb)
 * ```
 */
import type { Address, Hex } from 'viem'
import { keccak256, keccak256Scratch } from '../../crypto/keccak.js'
import { signDigest } from '../../crypto/secp256k1.js'
import { eip712Domain, eip712Digester, typeHash } from '../../crypto/eip712.js'
import { hexToBytes, writeAddress, writeWord, readWord } from '../../crypto/bytes.js'

export interface Ticket {
  recipient: Address
  sender: Address
  faceValue: bigint
  winProb: bigint
  senderNonce: bigint
  recipientRandHash: Hex
  expirationBlock: bigint
}

export const MAX_WIN_PROB = (1n << 256n) - 1n
const TICKET_TYPEHASH = typeHash('Ticket(address recipient,address sender,uint256 faceValue,uint256 winProb,uint256 senderNonce,bytes32 recipientRandHash,uint256 expirationBlock)')

/** The EIP-712 domain separator of a TicketBroker (32 bytes). */
export function ticketDomain(chainId: number, broker: Address): Uint8Array {
  return eip712Domain('Souk TicketBroker', '1', chainId, broker)
}

/** EIP-712 digest of `t` under `domain` (as TicketBroker.ticketDigest computes it). */
export function ticketDigest(domain: Uint8Array, t: Ticket): Uint8Array {
  return ticketHasher(domain, t)(t.senderNonce)
}

/**
 * A digest function for tickets that differ only in their nonce (all tickets under one set of parameters):
 * the struct encoding is laid out once and only the nonce word is rewritten per ticket.
 */
export function ticketHasher(domain: Uint8Array, fixed: Omit<Ticket, 'senderNonce'>): (nonce: bigint) => Uint8Array {
  const s = new Uint8Array(256)
  s.set(TICKET_TYPEHASH, 0)
  writeAddress(s, 32, fixed.recipient)
  writeAddress(s, 64, fixed.sender)
  writeWord(s, 96, fixed.faceValue)
  writeWord(s, 128, fixed.winProb)
  s.set(hexToBytes(fixed.recipientRandHash), 192)
  writeWord(s, 224, fixed.expirationBlock)
  const digest = eip712Digester(domain)
  return (nonce) => {
    writeWord(s, 160, nonce)
    // The struct hash is copied into the digest's input at once: a scratch view will do.
    return digest(keccak256Scratch(s))
  }
}

/** A draw function for one recipient rand: sig ↦ keccak256(r ‖ s ‖ v ‖ rand) as a uint256. */
export function ticketDrawer(rand: bigint): (sig: Uint8Array) => bigint {
  const b = new Uint8Array(97)
  writeWord(b, 65, rand)
  return (sig) => {
    b.set(sig.subarray(0, 65), 0)
    return readWord(keccak256(b))
  }
}

/**
 * Win tests for one recipient rand and win probability, without a bigint per ticket: `sig` ↦ whether
 * keccak256(r ‖ s ‖ v ‖ rand) < winProb for the signature's own v (`given`) and for the other v (`flipped`).
 * A payee that checks (r, s) alone (no recovery) learns from these whether v can matter: only when one of the two
 * wins does it need the v the chain recovers the sender with.
 */
export function ticketWinTester(rand: bigint, winProb: bigint): (sig: Uint8Array) => { given: boolean; flipped: boolean } {
  const b = Buffer.alloc(97)
  writeWord(b, 65, rand)
  const bound = Buffer.alloc(32)
  writeWord(bound, 0, winProb)
  return (sig) => {
    b.set(sig.length === 65 ? sig : sig.subarray(0, 65), 0)
    const given = Buffer.compare(keccak256Scratch(b), bound) < 0
    b[64] = sig[64] === 27 ? 28 : 27
    const flipped = Buffer.compare(keccak256Scratch(b), bound) < 0
    return { given, flipped }
  }
}

/** Signs a ticket: a canonical 65-byte signature r ‖ s ‖ v. */
export function signTicket(domain: Uint8Array, t: Ticket, privateKey: Hex): Uint8Array {
  return signDigest(ticketDigest(domain, t), hexToBytes(privateKey))
}

/** keccak256(abi.encode(rand)) — the commitment a recipient publishes. */
export function randHash(rand: bigint): Hex {
  const b = new Uint8Array(32)
  writeWord(b, 0, rand)
  return `0x${Buffer.from(keccak256(b)).toString('hex')}` as Hex
}

/** The draw of a signature with a rand: keccak256(r ‖ s ‖ v ‖ rand) as a uint256. */
export function ticketDraw(sig: Uint8Array, rand: bigint): bigint {
  const b = new Uint8Array(97)
  b.set(sig.subarray(0, 65), 0)
  writeWord(b, 65, rand)
  return readWord(keccak256(b))
}

export function isWinningTicket(sig: Uint8Array, rand: bigint, winProb: bigint): boolean {
  return ticketDraw(sig, rand) < winProb
}

/** winProb for an expected value `ev` per ticket of face value `face` (rounded down; EV never overstated). */
export function winProbFor(ev: bigint, face: bigint): bigint {
  if (face <= 0n) throw new RangeError('face value must be positive')
  if (ev >= face) return MAX_WIN_PROB
  return (ev * MAX_WIN_PROB) / face
}

/** Expected value of a ticket. */
export function expectedValue(face: bigint, winProb: bigint): bigint {
  return (face * winProb) / MAX_WIN_PROB
}

// ---------------------------------------------------------------- the run format ({TicketBroker.redeemRuns})

/** Bytes per ticket in a run: seq (16) ‖ r (32) ‖ vs (32, EIP-2098) ‖ recipientRand (32). */
export const RUN_RECORD_BYTES = 112
const SEQ_BITS = 128n
const SEQ_MASK = (1n << SEQ_BITS) - 1n

/** A winning ticket as the payee holds it: the signed fields, the 65-byte signature and the revealed rand. */
export interface RunTicket {
  sender: Address
  faceValue: bigint
  winProb: bigint
  expirationBlock: bigint
  senderNonce: bigint
  /** r ‖ s ‖ v (65 bytes, v ∈ {27, 28}). */
  sig: Uint8Array
  rand: bigint
}

/** `TicketBroker.TicketRun`: tickets sharing every signed field but seq and rand (the recipient is the caller). */
export interface TicketRunArg {
  sender: Address
  faceValue: bigint
  winProb: bigint
  expirationBlock: bigint
  lane: bigint
  tickets: Hex
}

/**
 * Groups winning tickets into runs for `redeemRuns`: tickets with the same (sender, face value, win probability,
 * expiry, lane) form one run, in the order their first ticket appears, with seqs in increasing order. A ticket
 * whose signature is not 65 bytes with v ∈ {27, 28} cannot be put in the format: a `RangeError` says which.
 */
export function toTicketRuns(tickets: readonly RunTicket[]): TicketRunArg[] {
  const groups = new Map<string, { head: Omit<TicketRunArg, 'tickets'>; items: RunTicket[] }>()
  for (const t of tickets) {
    const lane = t.senderNonce >> SEQ_BITS
    const key = `${t.sender.toLowerCase()}|${t.faceValue}|${t.winProb}|${t.expirationBlock}|${lane}`
    let g = groups.get(key)
    if (!g) groups.set(key, (g = { head: { sender: t.sender, faceValue: t.faceValue, winProb: t.winProb, expirationBlock: t.expirationBlock, lane }, items: [] }))
    g.items.push(t)
  }
  return [...groups.values()].map(({ head, items }) => {
    items.sort((a, b) => ((a.senderNonce & SEQ_MASK) < (b.senderNonce & SEQ_MASK) ? -1 : 1))
    const out = new Uint8Array(items.length * RUN_RECORD_BYTES)
    items.forEach((t, i) => writeRunRecord(out, i * RUN_RECORD_BYTES, t))
    return { ...head, tickets: `0x${Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString('hex')}` as Hex }
  })
}

function writeRunRecord(out: Uint8Array, at: number, t: RunTicket): void {
  if (t.sig.length !== 65 || (t.sig[64] !== 27 && t.sig[64] !== 28)) throw new RangeError(`ticket ${t.senderNonce}: a signature of ${t.sig.length} bytes with v ${t.sig[64]}, not 65 bytes with v 27 or 28`)
  if (t.sig[32]! & 0x80) throw new RangeError(`ticket ${t.senderNonce}: a high-s signature has no EIP-2098 form (the broker takes only low s)`)
  const seq = t.senderNonce & SEQ_MASK
  const w = new Uint8Array(32)
  writeWord(w, 0, seq)
  out.set(w.subarray(16), at)
  out.set(t.sig.subarray(0, 32), at + 16)
  out.set(t.sig.subarray(32, 64), at + 48)
  // EIP-2098: s ≤ n/2 leaves s's top bit free for v - 27.
  if (t.sig[64] === 28) out[at + 48]! |= 0x80
  writeWord(out, at + 80, t.rand)
}

/** The nonces (`lane << 128 | seq`) of a `TicketsRedeemed` event's tickets, from its `lane` and packed `seqs`. */
export function runNonces(lane: bigint, seqs: Hex): bigint[] {
  const hex = seqs.slice(2)
  if (hex.length % 32 !== 0) throw new RangeError(`seqs of ${hex.length / 2} bytes: not a multiple of 16`)
  const out: bigint[] = []
  for (let i = 0; i < hex.length; i += 32) out.push((lane << SEQ_BITS) | BigInt(`0x${hex.slice(i, i + 32)}`))
  return out
}

/** One ticket of a `TicketsRedeemed` event: its nonce, and what of its face value the deposit and the reserve paid. */
export interface RunRedemption { nonce: bigint; faceValue: bigint; fromDeposit: bigint; fromReserve: bigint }

/**
 * A `TicketsRedeemed` event ticket by ticket. The broker pays a run's tickets in order from the deposit first, so the
 * run's `fromDeposit` covers its first tickets in full, one ticket perhaps in part, and the reserve the rest.
 */
export function runRedemptions(ev: { lane: bigint; faceValue: bigint; fromDeposit: bigint; fromReserve: bigint; seqs: Hex }): RunRedemption[] {
  let dep = ev.fromDeposit
  return runNonces(ev.lane, ev.seqs).map((nonce) => {
    const d = dep < ev.faceValue ? dep : ev.faceValue
    dep -= d
    return { nonce, faceValue: ev.faceValue, fromDeposit: d, fromReserve: ev.faceValue - d }
  })
}
