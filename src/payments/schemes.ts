/**
 * The list of payment schemes: the only place that names them all. The scheme-name type, the zod enum of
 * configurations and the wire, the deployment's `contracts` record and the CLI's choices all derive from it, and
 * `deploySouk` deploys the schemes in this order. Adding a scheme: a `payments/<name>/` folder whose index.ts
 * exports its `PaymentScheme`, and one line here (docs/payments.md, "Adding a payment scheme").
 *
 * @example
 * ```ts
 * import { schemes, schemeNames } from './schemes.js'
 * for (const s of schemes()) console.log(s.name, s.description)
 * schemeNames() // ['lottery', 'channel', 'microcash']
 * ```
 */
import { z } from 'zod'
import { lotteryScheme } from './lottery/index.js'
import { channelScheme } from './channel/index.js'
import { microcashScheme } from './microcash/index.js'

// A function, not a top-level const: the scheme modules import schemas.ts, whose zod enum reads this list, so this
// module can be evaluated while one of them is still loading (an import cycle); the list is read only when called.
/** Every scheme, in deployment order (token, then each scheme's contracts: addresses depend on it). */
export function schemes() {
  return [
    lotteryScheme,
    channelScheme,
    microcashScheme,
  ] as const
}

export type Schemes = ReturnType<typeof schemes>
export type AnyScheme = Schemes[number]
export type SchemeName = AnyScheme['name']
/** The scheme named `N`, with its own contract, parameter and summary types. */
export type SchemeOf<N extends SchemeName> = Extract<AnyScheme, { name: N }>

/** The names of every scheme, in list order. */
export function schemeNames(): SchemeName[] {
  return schemes().map((s) => s.name)
}

/** True when `name` names a known scheme. */
export function isSchemeName(name: unknown): name is SchemeName {
  return typeof name === 'string' && (schemeNames() as string[]).includes(name)
}

const makeEnum = () => z.enum(schemeNames() as [SchemeName, ...SchemeName[]])
let zEnum: ReturnType<typeof makeEnum> | undefined
/** The zod enum of scheme names (built on first use, from `schemes()`). */
export function schemeEnum(): ReturnType<typeof makeEnum> {
  return (zEnum ??= makeEnum())
}
