/**
 * keccak256 on the hot path. Node has no keccak, so Souk uses its own WebAssembly Keccak (keccak-wasm.ts: ~0.55 µs
 * for 97 bytes and ~1.0 µs for 256 here, one call a hash), else the native Keccak state of the `keccak` package
 * (~1.4 and ~1.7 µs: four N-API calls a hash), else @noble/hashes (~5.5 µs). All are tested to agree.
 *
 * @example
 * ```ts
 * import { keccak256 } from './keccak.js'
 * keccak256(new Uint8Array(0)) // c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470
 * ```
 */
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { keccak256Wasm, keccak256WasmView } from './keccak-wasm.js'

interface NativeKeccakState {
  initialize(rate: number, capacity: number): void
  absorb(data: Buffer): void
  absorbLastFewBits(bits: number): void
  squeeze(len: number): Buffer
}

function loadNative(): (new () => NativeKeccakState) | undefined {
  try {
    const require = createRequire(import.meta.url)
    const addon = require('node-gyp-build')(dirname(require.resolve('keccak/package.json'))) as unknown
    return typeof addon === 'function' ? (addon as new () => NativeKeccakState) : undefined
  } catch {
    return undefined
  }
}

const Native = loadNative()
const state = Native ? new Native() : undefined

/** Which implementation is in use: 'wasm' or 'native' (compiled code; `selectCryptoBackends('native')`) or 'noble'. */
export let keccakBackend: 'wasm' | 'native' | 'noble' = keccak256Wasm ? 'wasm' : state ? 'native' : 'noble'

/** keccak256 with @noble/hashes (reference implementation). */
export function keccak256Noble(data: Uint8Array): Uint8Array {
  return keccak_256(data)
}

const keccak256Native = state
  ? (data: Uint8Array): Uint8Array => {
      state.initialize(1088, 512)
      state.absorb(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength))
      state.absorbLastFewBits(0x01)
      return state.squeeze(32)
    }
  : undefined

/** The native addon's keccak256, where it loaded (for tests and benchmarks that compare implementations). */
export const keccak256Addon: ((data: Uint8Array) => Uint8Array) | undefined = keccak256Native

/**
 * keccak256 of `data` as a view that is valid only until the next hash (the WebAssembly build's own memory; a fresh
 * array with the other backends): for a digest compared or copied at once. A live binding, like `keccak256`.
 */
export let keccak256Scratch: (data: Uint8Array) => Uint8Array = keccak256WasmView ?? keccak256Native ?? keccak256Noble

/** keccak256 of `data` (32 bytes out). A live binding: `selectCryptoBackends` may swap the implementation. */
export let keccak256: (data: Uint8Array) => Uint8Array = keccak256Wasm ?? keccak256Native ?? keccak256Noble

/**
 * @internal For backend.ts: `native` uses compiled code (the WebAssembly Keccak, else the native addon), `noble`
 * the pure-JS one. Returns what is in use.
 */
export function useKeccakBackend(choice: 'native' | 'noble'): 'wasm' | 'native' | 'noble' {
  keccak256 = choice === 'native' ? keccak256Wasm ?? keccak256Native ?? keccak256Noble : keccak256Noble
  keccak256Scratch = choice === 'native' ? keccak256WasmView ?? keccak256Native ?? keccak256Noble : keccak256Noble
  keccakBackend = keccak256 === keccak256Noble ? 'noble' : keccak256 === keccak256Wasm ? 'wasm' : 'native'
  return keccakBackend
}
