/**
 * Proofs of outsourced work for the compute market (issue 13): the Merkle work tree of a batch that
 * `contracts/WorkMarket.sol` verifies (`tree.ts`), the units challenged from a batch's seed (`challenge.ts`), and
 * the checkers' EIP-712 verdicts a fault carries (`verdict.ts`), the checkers' commit-reveal (`replication.ts`) and
 * the deterrence rule (`sizing.ts`).
 *
 * @example
 * ```ts
 * import { buildWorkTree, challengedUnits, workPath, signVerdict } from './src/proofs/work/index.js'
 * const tree = buildWorkTree(first, units)                       // units[i]: { inputHash, outputHash }
 * // claimWork(jobId, first, units.length, tree.root); after the seed block:
 * const challenged = challengedUnits(seed, jobId, batch, first, units.length, checksPerBatch)
 * const path = workPath(tree, challenged[0] - first)             // for fault / answer
 * const sig = await signVerdict(checkerKey, { chainId, verifyingContract: market }, { jobId, batch, unit: challenged[0], output })
 * ```
 */
export { WorkProofError, InsufficientDeterrenceError, type WorkProofReason } from './errors.js'
export {
  WORK_HASH_BYTES, MAX_BATCH_UNITS, MAX_WORK_DEPTH, MAX_UNIT, WORK_LEAF_PREFIX, WORK_NODE_PREFIX, abytes32, aint, workLeaf, workLeafBytes, workNode,
  batchDepth, buildWorkTree, workTreeFromLeaves, zeroWorkSubtree, workRoot, workTreeLeaf, workPath, verifyWorkPath, verifyWorkUnit,
  type Bytes32, type UnitHashes, type WorkTree,
} from './tree.js'
export { MAX_CHECKS_PER_BATCH, challengeCount, challengedUnit, challengedUnits, missProbability } from './challenge.js'
export {
  VERDICT_TYPES, verdictDomain, verdictTypedData, verdictDigest, signVerdict, recoverVerdictSigner, verifyVerdict, type Verdict, type VerdictDomainInput,
} from './verdict.js'
export * from './replication.js'
export {
  WORK_MAX_BATCH, WORK_MAX_CHECKS_PER_BATCH, SizingParamsError, minSlash, detectionProbability, cheatingGain, sizeChecks,
  type DeterrenceProblem, type MinSlashParameters, type CheatingGainParameters, type CheatingGain, type SizeChecksParameters, type ChecksSizing,
} from './sizing.js'
