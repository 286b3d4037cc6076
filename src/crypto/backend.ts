/**
 * The one place src/crypto reads the environment. keccak.ts and secp256k1.ts each pick a native backend or the
 * noble fallback once, when they load; `SOUK_PURE_JS=1` forces the fallbacks (to test them, or where a native build
 * misbehaves). Kept as a function so that the read is in one place and a later change (a config component instead
 * of the environment) touches this file only.
 *
 * @example
 * ```ts
 * import { nativeBackendsAllowed } from './backend.js'
 * nativeBackendsAllowed() // false when SOUK_PURE_JS=1
 * ```
 */
export function nativeBackendsAllowed(): boolean {
  return process.env.SOUK_PURE_JS !== '1'
}
