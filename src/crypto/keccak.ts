/**
 * keccak256 on the hot path. Node has no keccak, so Souk uses the native Keccak state of the `keccak` package
 * (~2.5 µs for 256 bytes here, ~5x @noble/hashes), and falls back to noble where no native build loads. Both are
 * tested to agree.
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

/** Which implementation is in use: 'native' or 'noble' (see `selectCryptoBackends` in backend.ts). */
export let keccakBackend: 'native' | 'noble' = state ? 'native' : 'noble'

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

/** keccak256 of `data` (32 bytes out). A live binding: `selectCryptoBackends` may swap the implementation. */
export let keccak256: (data: Uint8Array) => Uint8Array = keccak256Native ?? keccak256Noble

/** @internal For backend.ts: uses the native Keccak where it loaded (`native`) or noble. Returns what is in use. */
export function useKeccakBackend(choice: 'native' | 'noble'): 'native' | 'noble' {
  keccak256 = choice === 'native' && keccak256Native ? keccak256Native : keccak256Noble
  keccakBackend = keccak256 === keccak256Noble ? 'noble' : 'native'
  return keccakBackend
}
