/**
 * Which implementation keccak256 and secp256k1 use. Each module loads its compiled backend when it is imported (keccak:
 * its own WebAssembly build, else the `keccak` package's native one; secp256k1: the `secp256k1` package's native
 * build), falling back to @noble where none loads, and uses it by default. `selectCryptoBackends('noble')` switches both to the noble fallbacks (to test them, or where a native
 * build misbehaves); `'native'` switches back where the native builds loaded.
 *
 * src/crypto reads no environment. `SOUK_PURE_JS=1` is read by the `souk` command at start (src/cli/env.ts), which
 * then calls `selectCryptoBackends('noble')`; a program using the library calls it itself, before its first hash.
 *
 * @example
 * ```ts
 * import { selectCryptoBackends } from './backend.js'
 * selectCryptoBackends('noble') // { keccak: 'noble', secp256k1: 'noble' }
 * ```
 */
import { useKeccakBackend } from './keccak.js'
import { useSecpBackend } from './secp256k1.js'

export type CryptoBackend = 'native' | 'noble'

/**
 * Selects the backends of keccak256 and secp256k1 for the whole process; returns what each now uses (keccak's
 * compiled backend is its WebAssembly build where WebAssembly runs: `'wasm'`).
 */
export function selectCryptoBackends(choice: CryptoBackend): { keccak: CryptoBackend | 'wasm'; secp256k1: CryptoBackend } {
  if (choice !== 'native' && choice !== 'noble') throw new TypeError(`choice must be 'native' or 'noble', got ${String(choice)}`)
  return { keccak: useKeccakBackend(choice), secp256k1: useSecpBackend(choice) }
}
