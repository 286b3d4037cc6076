/**
 * What TicketBroker paid, ticket by ticket, from its events: a `WinningTicketRedeemed` per ticket of the struct
 * format, a `TicketsRedeemed` per run of the run format (expanded with {@link runRedemptions}).
 *
 * @example
 * ```ts
 * import { redeemedTickets } from './events.js'
 * const paid = await redeemedTickets(chain, broker, { recipient: me })
 * const total = paid.reduce((s, t) => s + t.faceValue, 0n)
 * ```
 */
import type { Address, Hex } from 'viem'
import { TicketBrokerAbi } from '../../../artifacts/contracts.js'
import type { Chain } from '../../chain/index.js'
import { runRedemptions } from './ticket.js'

/** One redeemed winning ticket as the chain recorded it. */
export interface RedeemedTicket {
  sender: Address
  recipient: Address
  nonce: bigint
  faceValue: bigint
  fromDeposit: bigint
  fromReserve: bigint
  tx: Hex
  blockNumber: bigint
}

/** Every winning ticket `broker` paid (not those queued as claims), optionally of one sender and/or recipient. */
export async function redeemedTickets(chain: Chain, broker: Address, o: { sender?: Address; recipient?: Address; fromBlock?: bigint; toBlock?: bigint } = {}): Promise<RedeemedTicket[]> {
  const filter = { address: broker, abi: TicketBrokerAbi, args: { ...(o.sender ? { sender: o.sender } : {}), ...(o.recipient ? { recipient: o.recipient } : {}) }, fromBlock: o.fromBlock ?? 0n, toBlock: o.toBlock ?? ('latest' as const) }
  const [single, runs] = await Promise.all([
    chain.public.getContractEvents({ ...filter, eventName: 'WinningTicketRedeemed' }),
    chain.public.getContractEvents({ ...filter, eventName: 'TicketsRedeemed' }),
  ])
  const lc = (a: string) => a.toLowerCase() as Address
  const out: RedeemedTicket[] = single.map((e) => ({
    sender: lc(e.args.sender!), recipient: lc(e.args.recipient!), nonce: e.args.senderNonce!, faceValue: e.args.faceValue!,
    fromDeposit: e.args.fromDeposit!, fromReserve: e.args.fromReserve!, tx: e.transactionHash!, blockNumber: e.blockNumber!,
  }))
  for (const e of runs) {
    const a = e.args as { sender: Address; recipient: Address; lane: bigint; faceValue: bigint; fromDeposit: bigint; fromReserve: bigint; seqs: Hex }
    for (const t of runRedemptions(a)) out.push({ sender: lc(a.sender), recipient: lc(a.recipient), ...t, tx: e.transactionHash!, blockNumber: e.blockNumber! })
  }
  return out.sort((x, y) => (x.blockNumber < y.blockNumber ? -1 : x.blockNumber > y.blockNumber ? 1 : 0))
}
