/**
 * Proofs of storage for the storage market (docs/storage.md): the 20-byte-node Merkle tree and multi-proofs that
 * `contracts/StorageMarket.sol` verifies, challenge positions drawn from a period's seed, replica encoding, and the
 * sizing of challenges and collateral.
 *
 * @example
 * ```ts
 * import { buildStorageTree, challengePositions, multiProof, replicatedLeaf, leafCount } from './src/proofs/storage/index.js'
 * const n = leafCount(data.length)
 * const tree = buildStorageTree(replicas * n, (g) => replicatedLeaf(data, salt, n, g))
 * const positions = challengePositions({ seed, dealId, period: 3, challenges: 16, totalLeaves: replicas * n })
 * const proof = multiProof(tree, positions) // { leaves, siblings }: the calldata of one deal's proof
 * ```
 */
export { StorageProofError, type StorageProofReason } from './errors.js'
export {
  LEAF_BYTES, NODE_BYTES, MAX_DEPTH, leafNode, parentNode, zeroSubtreeRoot, leafCount, treeDepth, dataLeaf, buildStorageTree, normalizePositions,
  multiProof, multiProofSiblingCount, verifyMultiProof, type StorageTree, type MultiProof,
} from './tree.js'
export { challengePositions, detectionProbability, challengesFor, deterringCollateral } from './challenge.js'
export { replicaMask, replicaLeaf, decodeReplicaLeaf, replicatedLeaf } from './replica.js'
