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
import { keccak256 } from '../../crypto/keccak.js'
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
    return digest(keccak256(s))
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
