/**
 * Replica encoding (souk.storage v1): r replicas of a file are r distinct datasets.
 *
 * Leaf `l` of replica `j` is `data[l] XOR keccak256(0x02 ‖ salt ‖ u32be(j) ‖ u64be(l))`, with `salt` the deal's own
 * 32 bytes (chosen by the client, recorded in the deal). The deal commits to one tree over all replicas, replica `j`
 * at positions `[j·n, (j+1)·n)` for `n` leaves a replica. What it buys (docs/storage.md § Replicas):
 * - a provider holding a replica of one deal cannot answer for another deal's replica of the same file (salts differ),
 *   nor for replica `j'` of this deal with replica `j`'s bytes: dedup across replicas or deals fails the proofs;
 * - what it does not buy: a provider that keeps the plaintext once and re-encodes a challenged leaf on demand (one
 *   keccak) passes; proving r physical copies against that needs a slow, depth-robust sealing (Filecoin's SDR takes
 *   hours per 32 GiB) and is out of scope. `models/storage.yaml` states this risk as accepted.
 *
 * @example
 * ```ts
 * const leaf = replicaLeaf(data, salt, 2, 7) // leaf 7 of replica 2
 * decodeReplicaLeaf(leaf, salt, 2, 7)        // = dataLeaf(data, 7)
 * ```
 */
import { keccak256 } from '../../crypto/keccak.js'
import { dataLeaf, LEAF_BYTES } from './tree.js'
import { StorageProofError } from './errors.js'

const buf = new Uint8Array(1 + 32 + 4 + 8)
buf[0] = 2

/** The 32-byte mask of leaf `l` of replica `j` under `salt`. */
export function replicaMask(salt: Uint8Array, j: number, l: number): Uint8Array {
  if (salt.length !== 32) throw new StorageProofError('bad-params', 'a replica salt is 32 bytes')
  buf.set(salt, 1)
  const v = new DataView(buf.buffer)
  v.setUint32(33, j)
  v.setUint32(37, Math.floor(l / 2 ** 32))
  v.setUint32(41, l >>> 0)
  return keccak256(buf)
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(LEAF_BYTES)
  for (let i = 0; i < LEAF_BYTES; i++) out[i] = a[i] ^ b[i]
  return out
}

/** Leaf `l` of replica `j` of `data`. */
export const replicaLeaf = (data: Uint8Array, salt: Uint8Array, j: number, l: number): Uint8Array => xor(dataLeaf(data, l), replicaMask(salt, j, l))

/** The data leaf back from an encoded one. */
export const decodeReplicaLeaf = (leaf: Uint8Array, salt: Uint8Array, j: number, l: number): Uint8Array => xor(leaf, replicaMask(salt, j, l))

/** The leaf at global position `g` of the all-replicas tree (`n` leaves a replica). */
export function replicatedLeaf(data: Uint8Array, salt: Uint8Array, n: number, g: number): Uint8Array {
  const j = Math.floor(g / n)
  return replicaLeaf(data, salt, j, g - j * n)
}
