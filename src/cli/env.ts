/**
 * The environment variables the `souk` command reads at start, in one place (the library reads none):
 * - `SOUK_PURE_JS=1`: keccak256 and secp256k1 use the @noble fallbacks instead of the native bindings
 *   (`selectCryptoBackends('noble')`, src/crypto/backend.ts). Peers the testnet spawns inherit it.
 *
 * @example
 * ```ts
 * import { applyEnvironment } from './env.js'
 * applyEnvironment({ SOUK_PURE_JS: '1' }) // keccakBackend === 'noble'
 * ```
 */
import { selectCryptoBackends } from '../crypto/backend.js'

/** Applies what `env` (the process environment by default) asks for; see the module comment. */
export function applyEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): void {
  if (env.SOUK_PURE_JS === '1') selectCryptoBackends('noble')
}
