/**
 * Registers `microcash` with the scheme registry (src/payments/registry.ts) so `createPayee('microcash', ctx)`,
 * `createPayer('microcash', ctx)` and `fundPayer('microcash', ctx, f)` work like lottery and channel.
 *
 * Context mapping: the contract is `ctx.deployment.extra.concurrentLottery`; the store is `ctx.storePath`
 * (':memory:' by default); `ctx.options` takes the payee/payer options of scheme.ts plus, for the payer,
 * `escrowId` (default: the newest escrow owned by `ctx.key`). `fundPayer` opens an escrow: `deposit` is its
 * balance, the sum of `reserves` its penalty deposit, and `options.escrow` overrides the default schedule.
 *
 * @example
 * ```ts
 * import './microcash/register.js'
 * await fundPayer('microcash', payerCtx, { deposit: 10n ** 21n, reserves: [{ payee, amount: 10n ** 20n }] })
 * const payee = await createPayee('microcash', payeeCtx)
 * const session = await (await createPayer('microcash', payerCtx)).open(await payee.terms(payer, price))
 * ```
 */
import { parseAbiItem, type Address } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { openDatabase } from '../../core/db.js'
import { PaymentError } from '../errors.js'
import { registerScheme, type SchemeContext } from '../registry.js'
import { createEscrow, type EscrowParams } from './contract.js'
import { createMicrocashPayee, createMicrocashPayer } from './scheme.js'

/** Schedule used by `fundPayer('microcash', …)` unless `options.escrow` overrides it. */
export const DEFAULT_ESCROW_SCHEDULE: Omit<EscrowParams, 'ticketValue'> = {
  ticketsPerRound: 1 << 16, winnersPerRound: 16, roundLengthBlocks: 10, drawDelayBlocks: 3, rounds: 100, redeemWindowBlocks: 200,
}

function lotteryOf(ctx: SchemeContext): Address {
  const a = ctx.deployment.extra?.concurrentLottery
  if (!a) throw new PaymentError('No ConcurrentLottery in this deployment', { hints: ['Deploy it with deployConcurrentLottery(chain, key, token) and set deployment.extra.concurrentLottery.'] })
  return a
}

/** The newest escrow owned by `owner`, from the contract's EscrowCreated events. */
export async function latestEscrowOf(ctx: SchemeContext, owner: Address): Promise<bigint | undefined> {
  const logs = await ctx.chain.public.getLogs({
    address: lotteryOf(ctx),
    event: parseAbiItem('event EscrowCreated(uint256 indexed escrowId, address indexed owner, uint256 balance, uint256 penalty, uint64 startRound, uint64 endRound, uint64 expiryBlock)'),
    args: { owner },
    fromBlock: 0n,
  })
  return logs.length ? logs[logs.length - 1].args.escrowId : undefined
}

registerScheme('microcash', {
  async payee(ctx) {
    return createMicrocashPayee({ ...(ctx.options ?? {}), chain: ctx.chain, lottery: lotteryOf(ctx), privateKey: ctx.key, db: openDatabase(ctx.storePath ?? ':memory:'), logger: ctx.logger })
  },
  async payer(ctx) {
    const me = privateKeyToAddress(ctx.key)
    const escrowId = (ctx.options?.escrowId as bigint | undefined) ?? (await latestEscrowOf(ctx, me))
    if (escrowId === undefined) throw new PaymentError(`No microcash escrow owned by ${me}`, { hints: ["Open one with fundPayer('microcash', ctx, { deposit, reserves }) or createEscrow()."] })
    return createMicrocashPayer({ ...(ctx.options ?? {}), chain: ctx.chain, lottery: lotteryOf(ctx), privateKey: ctx.key, escrowId, db: openDatabase(ctx.storePath ?? ':memory:'), logger: ctx.logger })
  },
  async fund(ctx, f) {
    const s = { ...DEFAULT_ESCROW_SCHEDULE, ...((ctx.options?.escrow as Partial<EscrowParams> | undefined) ?? {}) }
    const ticketValue = s.ticketValue ?? f.deposit / BigInt(s.winnersPerRound * s.rounds)
    if (ticketValue <= 0n) throw new PaymentError('deposit too small for the schedule', { details: { deposit: f.deposit, winnersPerRound: s.winnersPerRound, rounds: s.rounds } })
    const penalty = (f.reserves ?? []).reduce((a, r) => a + r.amount, 0n)
    await createEscrow(ctx.chain, ctx.key, { lottery: lotteryOf(ctx), token: ctx.deployment.token, params: { ...s, ticketValue }, balance: f.deposit, penalty })
  },
})
