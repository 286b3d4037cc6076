/** Small byte helpers shared by the hot paths (no viem overhead). */
import type { Hex } from 'viem'

export function hexToBytes(h: string): Uint8Array {
  return Buffer.from(h.startsWith('0x') ? h.slice(2) : h, 'hex')
}

export function bytesToHex(b: Uint8Array): Hex {
  return `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}` as Hex
}

const MAX_UINT256 = (1n << 256n) - 1n

/** Writes `v` as a 32-byte big-endian word into `out` at `offset`. */
export function writeWord(out: Uint8Array, offset: number, v: bigint): void {
  if (v < 0n || v > MAX_UINT256) throw new RangeError(`word out of range: ${v}`)
  // Hex round trip: several times faster than 32 BigInt shifts.
  const hex = v.toString(16)
  const b = Buffer.from(hex.length & 1 ? '0' + hex : hex, 'hex')
  out.fill(0, offset, offset + 32 - b.length)
  out.set(b, offset + 32 - b.length)
}

/** Writes a 20-byte address right-aligned in a 32-byte word. */
export function writeAddress(out: Uint8Array, offset: number, address: string): void {
  out.fill(0, offset, offset + 12)
  out.set(hexToBytes(address), offset + 12)
}

/** Reads a 32-byte big-endian word as a bigint. */
export function readWord(b: Uint8Array, offset = 0): bigint {
  return BigInt('0x' + Buffer.from(b.buffer, b.byteOffset + offset, 32).toString('hex'))
}
