/**
 * ConcurrentLottery on chain: deploy, read escrows, open/top up/unlock/withdraw, record draws, redeem winners, read
 * who was paid for a winner, and prove duplicates (a victim's claim on the victims' pool). Thin wrappers over `write` (reverts become `ContractRevertError` named after the Solidity error).
 *
 * @example
 * ```ts
 * import { deployConcurrentLottery, createEscrow, getEscrow } from './contract.js'
 * const lottery = await deployConcurrentLottery(chain, chain.devKeys[0], deployment.token)   // deploySouk does this: deployment.contracts.microcash.concurrentLottery
 * const id = await createEscrow(chain, sponsorKey, { lottery, token: deployment.token, params, balance, penalty })
 * (await getEscrow(chain, lottery, id)).winnersPerRound
 * ```
 */
import { decodeEventLog, type Address, type Hex, type TransactionReceipt } from 'viem'
import { ConcurrentLotteryAbi, ConcurrentLotteryBytecode, SoukTokenAbi } from '../../../artifacts/contracts.js'
import { deployContract } from '../../chain/deploy.js'
import { write } from '../../chain/tx.js'
import type { Chain } from '../../chain/types.js'
import { toChainError } from '../../chain/errors.js'
import type { SoukError } from '../../core/errors.js'
import { bytesToHex, hexToBytes } from '../../crypto/index.js'

export { ConcurrentLotteryAbi }

/** What a sponsor declares when it opens an escrow (`ConcurrentLottery.EscrowParams`). */
export interface EscrowParams {
  ticketValue: bigint
  ticketsPerRound: number
  winnersPerRound: number
  roundLengthBlocks: number
  drawDelayBlocks: number
  rounds: number
  redeemWindowBlocks: number
}

/** An escrow as the contract stores it. */
export interface EscrowState {
  owner: Address
  ticketValue: bigint
  ticketsPerRound: number
  winnersPerRound: number
  roundLengthBlocks: number
  drawDelayBlocks: number
  redeemWindowBlocks: number
  startRound: number
  endRound: number
  expiryBlock: number
  unlocked: boolean
  closed: boolean
  withdrawn: boolean
  balance: bigint
  committed: bigint
  /** Penalty deposit; 0 once a duplicate was proven (half burned, half moved to `pool`). */
  penalty: bigint
  /** Victims' pool: what is left for compensations after the first proof (burned at withdrawal). */
  pool: bigint
}

/** Where the contract sends burned penalty money. */
export const BURN_ADDRESS = '0x000000000000000000000000000000000000dEaD' as const

/** A signed ticket as redeemed or proven: one ticket plus its signature (and Merkle path when batch-signed). */
export interface SignedTicket {
  escrowId: bigint
  server: Address
  round: number
  seq: number
  salt: Hex
  batch: boolean
  /** Merkle path (batch) — empty for a single-signed ticket. */
  proof: Hex[]
  /** 65 bytes r ‖ s ‖ v over the ticket digest or the batch digest. */
  sig: Hex
  /** The batch root (batch tickets, when known: saves the receiver a path walk to look up its cache). */
  root?: Hex
}

/** Deploys a ConcurrentLottery paying in `token` (`deploySouk` puts it in `deployment.contracts.microcash.concurrentLottery`). */
export async function deployConcurrentLottery(chain: Chain, key: Hex, token: Address): Promise<Address> {
  return deployContract(chain, key, ConcurrentLotteryAbi, ConcurrentLotteryBytecode, [token])
}

export async function getEscrow(chain: Chain, lottery: Address, escrowId: bigint): Promise<EscrowState> {
  const e = await chain.public.readContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName: 'getEscrow', args: [escrowId] })
  return {
    owner: e.owner,
    ticketValue: e.ticketValue,
    ticketsPerRound: Number(e.ticketsPerRound),
    winnersPerRound: Number(e.winnersPerRound),
    roundLengthBlocks: Number(e.roundLengthBlocks),
    drawDelayBlocks: Number(e.drawDelayBlocks),
    redeemWindowBlocks: Number(e.redeemWindowBlocks),
    startRound: Number(e.startRound),
    endRound: Number(e.endRound),
    expiryBlock: Number(e.expiryBlock),
    unlocked: e.unlocked,
    closed: e.closed,
    withdrawn: e.withdrawn,
    balance: e.balance,
    committed: e.committed,
    penalty: e.penalty,
    pool: e.pool,
  }
}

/** Approves the lottery and opens an escrow; returns its id. */
export async function createEscrow(
  chain: Chain,
  key: Hex,
  a: { lottery: Address; token: Address; params: EscrowParams; balance: bigint; penalty: bigint },
): Promise<bigint> {
  const w = chain.wallet(key)
  await write(chain, w, { address: a.token, abi: SoukTokenAbi, functionName: 'approve', args: [a.lottery, a.balance + a.penalty] })
  const r = await write(chain, w, { address: a.lottery, abi: ConcurrentLotteryAbi, functionName: 'createEscrow', args: [toParams(a.params), a.balance, a.penalty] })
  for (const log of r.logs) {
    try {
      const ev = decodeEventLog({ abi: ConcurrentLotteryAbi, data: log.data, topics: log.topics })
      if (ev.eventName === 'EscrowCreated') return ev.args.escrowId
    } catch { /* another contract's log */ }
  }
  throw new Error('createEscrow: no EscrowCreated event')
}

export function toParams(p: EscrowParams) {
  return {
    ticketValue: p.ticketValue,
    ticketsPerRound: p.ticketsPerRound,
    winnersPerRound: p.winnersPerRound,
    roundLengthBlocks: p.roundLengthBlocks,
    drawDelayBlocks: p.drawDelayBlocks,
    rounds: p.rounds,
    redeemWindowBlocks: p.redeemWindowBlocks,
  }
}

function splitSig(sig: Hex) {
  const b = hexToBytes(sig)
  return { r: bytesToHex(b.subarray(0, 32)), s: bytesToHex(b.subarray(32, 64)), v: b[64] }
}

/**
 * Groups signed tickets (all of one escrow and one server) into the contract's bundles: batch-signed tickets
 * sharing a signature go under one bundle (the signature is checked once), single-signed ones one per bundle.
 * Within a bundle tickets are sorted by round, so the draw key is computed once per round.
 */
export function toBundles(tickets: readonly SignedTicket[]) {
  const byRoot = new Map<string, SignedTicket[]>()
  const out: { batch: boolean; sig: { r: Hex; s: Hex; v: number }; tickets: { round: bigint; seq: number; salt: Hex; proof: Hex[] }[] }[] = []
  for (const t of tickets) {
    if (!t.batch) {
      out.push({ batch: false, sig: splitSig(t.sig), tickets: [{ round: BigInt(t.round), seq: t.seq, salt: t.salt, proof: [] }] })
      continue
    }
    const g = byRoot.get(t.sig) ?? []
    g.push(t)
    byRoot.set(t.sig, g)
  }
  for (const [sig, g] of byRoot) {
    g.sort((a, b) => a.round - b.round)
    out.push({ batch: true, sig: splitSig(sig as Hex), tickets: g.map((t) => ({ round: BigInt(t.round), seq: t.seq, salt: t.salt, proof: t.proof })) })
  }
  return out
}

/** Redeems winning tickets of one escrow that all pay `server`, in one transaction (one token transfer). */
export async function redeemWinners(chain: Chain, key: Hex, lottery: Address, escrowId: bigint, server: Address, tickets: readonly SignedTicket[], opts: { gas?: bigint; signal?: AbortSignal } = {}): Promise<TransactionReceipt> {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'redeemWinningTickets', args: [escrowId, server, toBundles(tickets)], gas: opts.gas }, opts)
}

/** Most nodes one packed bundle's table holds (1-byte node indices); a larger bundle is split, each part signed by the same signature. */
export const PACKED_MAX_NODES = 255
const PACKED_MAX_TICKETS = 0xffff

/**
 * The calldata of `ConcurrentLottery.redeemPacked` for winning tickets that all pay one server, of any number of
 * escrows: per escrow (in first-appearance order) the bundles of {@link toBundles}, split by round, each with a
 * table of its distinct Merkle path nodes (a node shared by several paths is sent once) and each ticket's path as
 * 1-byte indices into it. Redeems exactly what `redeemWinners` per escrow would, in the same order, with the same
 * errors. A ticket of another server, or a signature that is not r ‖ s ‖ v with v ∈ {27, 28}, is a `RangeError`.
 */
export function packRedemption(server: Address, tickets: readonly SignedTicket[]): Hex {
  const byEscrow = new Map<bigint, SignedTicket[]>()
  for (const t of tickets) {
    if (t.server.toLowerCase() !== server.toLowerCase()) throw new RangeError(`packRedemption: a ticket of ${t.server} in a redemption for ${server}`)
    if (t.escrowId >= 1n << 64n) throw new RangeError(`packRedemption: escrow id ${t.escrowId} does not fit 8 bytes`)
    const g = byEscrow.get(t.escrowId) ?? []
    g.push(t)
    byEscrow.set(t.escrowId, g)
  }
  const parts: Uint8Array[] = []
  const int = (v: bigint | number, n: number) => {
    const b = new Uint8Array(n)
    let x = BigInt(v)
    for (let i = n - 1; i >= 0; i--) { b[i] = Number(x & 0xffn); x >>= 8n }
    return b
  }
  for (const [escrowId, ts] of byEscrow) {
    const bundles: Uint8Array[][] = []
    for (const bd of toBundles(ts)) {
      const sig = joinSig(bd.sig)
      // Split by round (toBundles sorted them), then so each table holds at most PACKED_MAX_NODES nodes.
      let i = 0
      while (i < bd.tickets.length) {
        const round = bd.tickets[i].round
        const table = new Map<string, number>()
        const body: Uint8Array[] = []
        let n = 0
        for (; i < bd.tickets.length && bd.tickets[i].round === round && n < PACKED_MAX_TICKETS; i++, n++) {
          const t = bd.tickets[i]
          const fresh = t.proof.filter((h) => !table.has(h.toLowerCase()))
          if (n > 0 && table.size + new Set(fresh.map((h) => h.toLowerCase())).size > PACKED_MAX_NODES) break
          if (t.proof.length > 255) throw new RangeError(`packRedemption: a Merkle path of ${t.proof.length} nodes`)
          const refs = t.proof.map((h) => {
            const k = h.toLowerCase()
            let at = table.get(k)
            if (at === undefined) table.set(k, (at = table.size))
            return at
          })
          body.push(int(t.seq, 4), hexToBytes(t.salt), Uint8Array.of(refs.length, ...refs))
        }
        bundles.push([Uint8Array.of(bd.batch ? 1 : 0), int(round, 8), sig, int(n, 2), Uint8Array.of(table.size), ...[...table.keys()].map((h) => hexToBytes(h as Hex)), ...body])
      }
    }
    for (let b = 0; b < bundles.length; b += 0xffff) {
      const chunk = bundles.slice(b, b + 0xffff)
      parts.push(int(escrowId, 8), int(chunk.length, 2), ...chunk.flat())
    }
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return bytesToHex(out)
}

/**
 * The winning tickets in `redeemPacked` calldata, the inverse of {@link packRedemption} (each ticket's Merkle path
 * rebuilt from its bundle's node table): what a server reads back from another server's redemption. Bytes that do
 * not parse are a `RangeError`.
 */
export function unpackRedemption(server: Address, data: Hex): SignedTicket[] {
  const b = hexToBytes(data)
  let at = 0
  const take = (n: number) => {
    if (at + n > b.length) throw new RangeError(`unpackRedemption: ${b.length} bytes end inside a field at ${at}`)
    const x = b.subarray(at, at + n)
    at += n
    return x
  }
  const int = (n: number) => take(n).reduce((v, x) => (v << 8n) | BigInt(x), 0n)
  const out: SignedTicket[] = []
  while (at < b.length) {
    const escrowId = int(8)
    const bundles = Number(int(2))
    for (let k = 0; k < bundles; k++) {
      const batch = take(1)[0] === 1
      const round = Number(int(8))
      const rs = Uint8Array.from(take(64))
      const v = rs[32]! & 0x80 ? 28 : 27
      rs[32]! &= 0x7f
      const sig = bytesToHex(Uint8Array.of(...rs, v))
      const n = Number(int(2))
      const table = Array.from({ length: take(1)[0]! }, () => bytesToHex(take(32)))
      for (let i = 0; i < n; i++) {
        const seq = Number(int(4))
        const salt = bytesToHex(take(32))
        const refs = take(take(1)[0]!)
        const proof = [...refs].map((r) => {
          const node = table[r]
          if (node === undefined) throw new RangeError(`unpackRedemption: node ${r} of a table of ${table.length}`)
          return node
        })
        out.push({ escrowId, server, round, seq, salt, batch, proof, sig })
      }
    }
  }
  return out
}

/** r ‖ vs (EIP-2098: v − 27 in the top bit of s), 64 bytes. */
function joinSig(sig: { r: Hex; s: Hex; v: number }): Uint8Array {
  if (sig.v !== 27 && sig.v !== 28) throw new RangeError(`packRedemption: signature v ${sig.v}, not 27 or 28`)
  const out = new Uint8Array(64)
  out.set(hexToBytes(sig.r), 0)
  out.set(hexToBytes(sig.s), 32)
  if (out[32] & 0x80) throw new RangeError('packRedemption: a signature with a high s')
  if (sig.v === 28) out[32] |= 0x80
  return out
}

/**
 * Redeems winning tickets of any number of escrows that all pay `server`, in one transaction and one token transfer
 * (`ConcurrentLottery.redeemPacked`, calldata from {@link packRedemption}).
 */
export async function redeemWinnersPacked(chain: Chain, key: Hex, lottery: Address, server: Address, tickets: readonly SignedTicket[], opts: { gas?: bigint; signal?: AbortSignal } = {}): Promise<TransactionReceipt> {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'redeemPacked', args: [server, packRedemption(server, tickets)], gas: opts.gas }, opts)
}

/**
 * Simulates `redeemWinners` (an `eth_call`, nothing sent): undefined when it would succeed, else the typed error
 * (`ContractRevertError` with the contract's custom error, or a `ChainError`).
 */
export async function simulateRedeem(chain: Chain, key: Hex, lottery: Address, escrowId: bigint, server: Address, tickets: readonly SignedTicket[]): Promise<SoukError | undefined> {
  try {
    await chain.public.simulateContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName: 'redeemWinningTickets', args: [escrowId, server, toBundles(tickets)], account: chain.wallet(key).account })
    return undefined
  } catch (e) {
    return toChainError(e, 'redeemWinningTickets')
  }
}

function toProof(t: SignedTicket) {
  return { server: t.server, round: BigInt(t.round), seq: t.seq, salt: t.salt, batch: t.batch, proof: t.proof, sig: splitSig(t.sig) }
}

/**
 * Proves that `victim`'s (round, seq) was issued twice: `paidServer` was paid for that winner and `victim.server`
 * was not. Pays `victim.server` V from the victims' pool (whoever sends it); the first proof burns half the penalty
 * and ends the schedule after the current round.
 */
export async function proveDuplicate(chain: Chain, key: Hex, lottery: Address, victim: SignedTicket, paidServer: Address, opts: { gas?: bigint } = {}): Promise<TransactionReceipt> {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'proveDuplicate', args: [victim.escrowId, toProof(victim), paidServer], gas: opts.gas })
}

/** The calldata of {@link proveDuplicate} (to send it another way, e.g. several in one block). */
export function proveDuplicateCall(victim: SignedTicket, paidServer: Address) {
  return { abi: ConcurrentLotteryAbi, functionName: 'proveDuplicate' as const, args: [victim.escrowId, toProof(victim), paidServer] as const }
}

/** Whether the winner (round, seq) of `escrowId` was redeemed by any server (false while its draw is unrecorded). */
export async function isRedeemed(chain: Chain, lottery: Address, escrowId: bigint, round: number, seq: number): Promise<boolean> {
  return chain.public.readContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName: 'isRedeemed', args: [escrowId, BigInt(round), BigInt(seq)] })
}

/** Whether `server` got V for the winner (round, seq) of `escrowId` (redeemed it, or was compensated for it). */
export async function isPaidTo(chain: Chain, lottery: Address, escrowId: bigint, round: number, seq: number, server: Address): Promise<boolean> {
  return chain.public.readContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName: 'isPaidTo', args: [escrowId, BigInt(round), BigInt(seq), server] })
}

/** Stores the draw seed of `drawBlock` on chain (while its hash is readable: 256 blocks). */
export async function recordDraw(chain: Chain, key: Hex, lottery: Address, drawBlock: number): Promise<TransactionReceipt> {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'recordDraw', args: [BigInt(drawBlock)] })
}

/** The recorded seed of `drawBlock`, or undefined. */
export async function seedOf(chain: Chain, lottery: Address, drawBlock: number): Promise<Hex | undefined> {
  const s = await chain.public.readContract({ address: lottery, abi: ConcurrentLotteryAbi, functionName: 'seedOf', args: [BigInt(drawBlock)] })
  return /^0x0+$/.test(s) ? undefined : s
}

export async function topUp(chain: Chain, key: Hex, a: { lottery: Address; token: Address; escrowId: bigint; amount: bigint; penalty: bigint; extraRounds: number }) {
  const w = chain.wallet(key)
  if (a.amount + a.penalty > 0n) await write(chain, w, { address: a.token, abi: SoukTokenAbi, functionName: 'approve', args: [a.lottery, a.amount + a.penalty] })
  return write(chain, w, { address: a.lottery, abi: ConcurrentLotteryAbi, functionName: 'topUp', args: [a.escrowId, a.amount, a.penalty, a.extraRounds] })
}

export async function unlockEscrow(chain: Chain, key: Hex, lottery: Address, escrowId: bigint) {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'unlock', args: [escrowId] })
}

export async function withdrawEscrow(chain: Chain, key: Hex, lottery: Address, escrowId: bigint) {
  return write(chain, chain.wallet(key), { address: lottery, abi: ConcurrentLotteryAbi, functionName: 'withdraw', args: [escrowId] })
}
