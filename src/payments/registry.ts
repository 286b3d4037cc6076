/**
 * Choosing a payment scheme by configuration: `createPayee(name, ctx)` / `createPayer(name, ctx)`, and
 * `fundPayer` to put fake coins where a scheme needs them on a dev chain.
 *
 * @example
 * ```ts
 * import { createPayee, createPayer, fundPayer } from './index.js'
 * await fundPayer('lottery', payerCtx, { deposit: 10n ** 21n, reserves: [{ payee, amount: 10n ** 20n }] })
 * const payee = await createPayee('lottery', payeeCtx)
 * const session = await (await createPayer('lottery', payerCtx)).open(await payee.terms(payer, 1000n))
 * await payee.receive(await session.pay(1000n))
 * ```
 */
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { Chain } from '../chain/types.js'
import type { SoukDeployment } from '../chain/deploy.js'
import { faucet } from '../chain/deploy.js'
import { write } from '../chain/tx.js'
import { SoukTokenAbi, TicketBrokerAbi } from '../../artifacts/contracts.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/logger.js'
import { PaymentError } from './errors.js'
import type { PayeeSide, PayerSide, SchemeName } from './types.js'
import { createLotteryPayee } from './lottery/payee.js'
import { createLotteryPayer } from './lottery/payer.js'
import { createChannelPayee } from './channel/payee.js'
import { createChannelPayer } from './channel/payer.js'

export interface SchemeContext {
  chain: Chain
  deployment: SoukDeployment
  /** This peer's secp256k1 key: signs payments and chain transactions. */
  key: Hex
  /** SQLite file for durable payment state (':memory:' by default). */
  storePath?: string
  clock?: Clock
  logger?: Logger
  /** Scheme-specific options (see each scheme's `*Options`). */
  options?: Record<string, unknown>
}

export interface SchemeFactory {
  payee(ctx: SchemeContext): Promise<PayeeSide>
  payer(ctx: SchemeContext): Promise<PayerSide>
  /** Funds the payer on chain so it can pay `reserves` payees (tokens must already be in its wallet). */
  fund?(ctx: SchemeContext, f: FundRequest): Promise<void>
}

export interface FundRequest {
  deposit: bigint
  reserves?: { payee: Address; amount: bigint }[]
}

const registry = new Map<SchemeName, SchemeFactory>()

/** Adds (or replaces) a scheme. Lottery and channel are built in; microcash registers itself (src/payments/index.ts imports it). */
export function registerScheme(name: SchemeName, f: SchemeFactory): void {
  registry.set(name, f)
}

registerScheme('lottery', {
  payee: (ctx) => createLotteryPayee({ ...ctx, options: ctx.options }),
  payer: (ctx) => createLotteryPayer(ctx),
  async fund(ctx, f) {
    const w = ctx.chain.wallet(ctx.key)
    const total = f.deposit + (f.reserves ?? []).reduce((s, r) => s + r.amount, 0n)
    await write(ctx.chain, w, { address: ctx.deployment.token, abi: SoukTokenAbi, functionName: 'approve', args: [ctx.deployment.ticketBroker, total] })
    if (f.deposit > 0n) await write(ctx.chain, w, { address: ctx.deployment.ticketBroker, abi: TicketBrokerAbi, functionName: 'fundDeposit', args: [f.deposit] })
    for (const r of f.reserves ?? []) {
      await write(ctx.chain, w, { address: ctx.deployment.ticketBroker, abi: TicketBrokerAbi, functionName: 'fundReserve', args: [r.payee, r.amount] })
    }
  },
})
registerScheme('channel', {
  payee: (ctx) => createChannelPayee({ ...ctx, options: ctx.options }),
  payer: (ctx) => createChannelPayer({ ...ctx, options: ctx.options }),
})

function factory(name: SchemeName): SchemeFactory {
  const f = registry.get(name)
  if (!f) {
    throw new PaymentError(`Unknown payment scheme "${name}"`, {
      hints: [`Available: ${[...registry.keys()].join(', ')}.`],
    })
  }
  return f
}

export function availableSchemes(): SchemeName[] {
  return [...registry.keys()]
}

export async function createPayee(name: SchemeName, ctx: SchemeContext): Promise<PayeeSide> {
  return factory(name).payee(ctx)
}

export async function createPayer(name: SchemeName, ctx: SchemeContext): Promise<PayerSide> {
  return factory(name).payer(ctx)
}

/**
 * Dev chains: mints fake coins to the payer from the faucet, then funds what the scheme needs (lottery: deposit
 * and per-payee reserves; channel: nothing yet, channels are opened per payee at `open`).
 */
export async function fundPayer(name: SchemeName, ctx: SchemeContext, f: FundRequest): Promise<void> {
  const me = privateKeyToAddress(ctx.key)
  const total = f.deposit + (f.reserves ?? []).reduce((s, r) => s + r.amount, 0n)
  await faucet(ctx.chain, ctx.key, ctx.deployment.token, me, total)
  await factory(name).fund?.(ctx, f)
}
