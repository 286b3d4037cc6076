/**
 * Microcash tickets off chain, byte-identical to contracts/ConcurrentLottery.sol: EIP-712 struct hashes and
 * digests, the batch Merkle tree (OpenZeppelin's commutative keccak pairs), and the draw — a keyed 4-round Feistel
 * permutation π of [0, N) with cycle walking; sequence number s wins iff π(s) < W. Shared vectors:
 * test/vectors/microcash.json.
 *
 * @example
 * ```ts
 * import { microcashDomain, ticketHash, batchDigest, buildTree, winnerRank } from './ticket.js'
 * const domain = microcashDomain(31337, lotteryAddress)
 * const leaves = tickets.map(ticketHash)
 * const tree = buildTree(leaves)
 * const digest = batchDigest(domain, escrowId, tree.root)   // sign once for all of them
 * winnerRank(seed, escrowId, round, seq, ticketsPerRound) < winnersPerRound // did it win?
 * ```
 */
import type { Address, Hex } from 'viem'
import { keccak256, writeWord, writeAddress, hexToBytes, eip712Domain, eip712Digest, typeHash } from '../../crypto/index.js'

/** One ticket: sequence number `seq` of issue round `round` of escrow `escrowId`, payable to `server` only. */
export interface MicroTicket {
  escrowId: bigint
  server: Address
  seq: number
  round: number
  /** Random per ticket: hides undelivered siblings of a batch from the server (32 bytes). */
  salt: Hex
}

export const TICKET_TYPEHASH = typeHash('Ticket(uint256 escrowId,address server,uint256 seq,uint256 round,bytes32 salt)')
export const BATCH_TYPEHASH = typeHash('TicketBatch(uint256 escrowId,bytes32 root)')
export const MICROCASH_DOMAIN_NAME = 'Souk ConcurrentLottery'
export const MICROCASH_DOMAIN_VERSION = '1'

/** The EIP-712 domain separator of a ConcurrentLottery (32 bytes). */
export function microcashDomain(chainId: number, contract: Address): Uint8Array {
  return eip712Domain(MICROCASH_DOMAIN_NAME, MICROCASH_DOMAIN_VERSION, chainId, contract)
}

const th = new Uint8Array(192)
th.set(TICKET_TYPEHASH, 0)
/** EIP-712 struct hash of a ticket = its Merkle leaf (`ConcurrentLottery.ticketHash`). */
export function ticketHash(t: MicroTicket): Uint8Array {
  writeWord(th, 32, t.escrowId)
  writeAddress(th, 64, t.server)
  writeWord(th, 96, t.seq)
  writeWord(th, 128, t.round)
  th.set(hexToBytes(t.salt), 160)
  return keccak256(th)
}

/** The digest signed for a single ticket (`ConcurrentLottery.ticketDigest`). */
export function ticketDigest(domain: Uint8Array, t: MicroTicket): Uint8Array {
  return eip712Digest(domain, ticketHash(t))
}

/** The digest signed for a batch with Merkle root `root` (`ConcurrentLottery.batchDigest`). */
export function batchDigest(domain: Uint8Array, escrowId: bigint, root: Uint8Array): Uint8Array {
  const b = new Uint8Array(96)
  b.set(BATCH_TYPEHASH, 0)
  writeWord(b, 32, escrowId)
  b.set(root, 64)
  return eip712Digest(domain, keccak256(b))
}

// ---------------------------------------------------------------- Merkle tree (OZ MerkleProof, sorted pairs)
// The batch tree is src/crypto/merkle.ts's sorted-keccak-pairs construction, what ConcurrentLottery verifies with
// OZ `MerkleProof.processProofCalldata`; these are its microcash names.
export {
  hashSortedPair as hashPair, buildSortedTree as buildTree, sortedTreeProof as proofOf, processSortedProof as processProof,
  type MerkleTree,
} from '../../crypto/merkle.js'

// ---------------------------------------------------------------- rounds and draws
/** The round containing `blockNumber`. */
export function roundAt(blockNumber: bigint | number, roundLengthBlocks: number): number {
  return Number(BigInt(blockNumber) / BigInt(roundLengthBlocks))
}

/** The draw block of `round`: its last block plus the draw delay (`ConcurrentLottery.drawBlockOf`). */
export function drawBlockOf(round: number, roundLengthBlocks: number, drawDelayBlocks: number): number {
  return (round + 1) * roundLengthBlocks - 1 + drawDelayBlocks
}

/** keccak256(abi.encode(seed, escrowId, round)): the key of a draw's permutation. */
export function drawKey(seed: Hex | Uint8Array, escrowId: bigint, round: number): Uint8Array {
  const b = new Uint8Array(96)
  b.set(typeof seed === 'string' ? hexToBytes(seed) : seed, 0)
  writeWord(b, 32, escrowId)
  writeWord(b, 64, round)
  return keccak256(b)
}

/** Half-width h of the Feistel network for domain size n: the least h >= 1 with 4^h >= n. */
export function feistelHalfBits(n: number): number {
  let h = 1
  while (2 ** (2 * h) < n) h++
  return h
}

const fBuf = new Uint8Array(96)
/** π_key(x) over [0, n) (`ConcurrentLottery._permute`). n <= 2^32. */
export function permute(key: Uint8Array, x: number, n: number): number {
  if (!(x >= 0 && x < n && n <= 2 ** 32)) throw new RangeError(`permute: need 0 <= x < n <= 2^32, got x=${x} n=${n}`)
  const h = feistelHalfBits(n)
  const half = 2 ** h
  const mask = half - 1
  fBuf.set(key, 0)
  fBuf.fill(0, 32, 96)
  for (;;) {
    let l = Math.floor(x / half)
    let r = x % half
    for (let i = 0; i < 4; i++) {
      fBuf[63] = i
      fBuf[92] = (r >>> 24) & 0xff
      fBuf[93] = (r >>> 16) & 0xff
      fBuf[94] = (r >>> 8) & 0xff
      fBuf[95] = r & 0xff
      const f = keccak256(fBuf)
      const low = ((f[28] << 24) | (f[29] << 16) | (f[30] << 8) | f[31]) >>> 0
      const nl = r
      r = (l ^ (low & mask)) >>> 0
      l = nl
    }
    x = l * half + r
    if (x < n) return x
  }
}

/** The rank π(seq) of `seq` in the draw of (escrowId, round) under `seed`; it wins iff rank < winnersPerRound. */
export function winnerRank(seed: Hex | Uint8Array, escrowId: bigint, round: number, seq: number, ticketsPerRound: number): number {
  return permute(drawKey(seed, escrowId, round), seq, ticketsPerRound)
}

/** The W winning sequence numbers of a draw, by rank (π⁻¹(0..W-1), computed by a scan of [0, N)). */
export function winnersOf(seed: Hex | Uint8Array, escrowId: bigint, round: number, ticketsPerRound: number, winnersPerRound: number): number[] {
  const key = drawKey(seed, escrowId, round)
  const out = new Array<number>(winnersPerRound)
  for (let s = 0; s < ticketsPerRound; s++) {
    const r = permute(key, s, ticketsPerRound)
    if (r < winnersPerRound) out[r] = s
  }
  return out
}
