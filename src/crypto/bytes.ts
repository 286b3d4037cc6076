/** Small byte helpers shared by the hot paths (no viem overhead). */
import type { Hex } from 'viem'

export function hexToBytes(h: string): Uint8Array {
  return Buffer.from(h.startsWith('0x') ? h.slice(2) : h, 'hex')
}

export function bytesToHex(b: Uint8Array): Hex {
  return `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}` as Hex
}

/** Writes `v` as a 32-byte big-endian word into `out` at `offset`. */
export function writeWord(out: Uint8Array, offset: number, v: bigint): void {
  for (let i = 31; i >= 0; i--) {
    out[offset + i] = Number(v & 0xffn)
    v >>= 8n
  }
}

/** Writes a 20-byte address right-aligned in a 32-byte word. */
export function writeAddress(out: Uint8Array, offset: number, address: string): void {
  out.fill(0, offset, offset + 12)
  out.set(hexToBytes(address), offset + 12)
}

/** Reads a 32-byte big-endian word as a bigint. */
export function readWord(b: Uint8Array, offset = 0): bigint {
  let v = 0n
  for (let i = 0; i < 32; i++) v = (v << 8n) | BigInt(b[offset + i])
  return v
}
