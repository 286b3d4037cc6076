/**
 * Choosing a payment scheme by name (a configuration, a CLI flag, a peer's terms): `schemeByName(name)`, and the
 * shortcuts `createPayee(name, ctx)` / `createPayer(name, ctx)` / `fundPayer(name, ctx, f)`. The schemes come from
 * the one list in `schemes.ts`; nothing registers itself.
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
import { privateKeyToAddress } from 'viem/accounts'
import { faucet } from '../chain/deploy.js'
import { UnknownSchemeError } from './errors.js'
import type { FundContext, FundRequest, PaymentScheme, SchemeContext } from './scheme.js'
import { schemeNames, schemes, type SchemeName, type SchemeOf } from './schemes.js'
import type { PayeeSide, PayerSide } from './types.js'

export type { SchemeContext, FundContext, FundRequest } from './scheme.js'

/** The scheme called `name`; an unknown name (a user's typo in a config) is an `UnknownSchemeError` listing the known ones. */
export function schemeByName<N extends SchemeName>(name: N): SchemeOf<N>
export function schemeByName(name: string): PaymentScheme
export function schemeByName(name: string): PaymentScheme {
  const s = schemes().find((x) => x.name === name)
  if (!s) throw new UnknownSchemeError(name, schemeNames())
  // Each scheme takes its own contracts and summary types; by name they are used through the common interface.
  return s as unknown as PaymentScheme
}

/** The names of the schemes, in list order. */
export function availableSchemes(): SchemeName[] {
  return schemeNames()
}

export async function createPayee(name: SchemeName, ctx: SchemeContext): Promise<PayeeSide> {
  return schemeByName(name as string).payee(ctx)
}

export async function createPayer(name: SchemeName, ctx: SchemeContext): Promise<PayerSide> {
  return schemeByName(name as string).payer(ctx)
}

/**
 * Dev chains: mints fake coins to the payer from the faucet, then funds what the scheme needs (lottery: deposit
 * and per-payee reserves; channel: nothing yet, channels are opened per payee at `open`; microcash: an escrow).
 */
export async function fundPayer(name: SchemeName, ctx: FundContext, f: FundRequest): Promise<void> {
  const s = schemeByName(name as string)
  const me = privateKeyToAddress(ctx.key)
  const total = f.deposit + (f.reserves ?? []).reduce((sum, r) => sum + r.amount, 0n)
  await faucet(ctx.chain, ctx.key, ctx.deployment.token, me, total)
  await s.fund(ctx, f)
}
