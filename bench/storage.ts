/**
 * Storage market benchmark (issue 12) → bench/results/storage.json. Field names are an interface:
 * - `proofGasK5Depth30`, `gasPerChallengedLeafDepth30` (= (gas - 21,000) / 5), `proofGasK16Depth30`,
 *   `proveBatchOf10K5PerDeal`, `openDealGas`, `activateGas`, `faultGas`: receipts on the embedded EVM
 *   (bench/storage-gas.ts; goals: <= 200,000 and <= 30,000; PDP-style with 32-byte nodes: 225,650 and 40.9k).
 * - `detectionProbability1pctLoss30Periods`: at the market's default challenges a period (goal >= 0.99; PDP's 5: 0.779).
 * - `provingMBps`: a provider building the proving tree over its replicas and answering a period's challenges, MB of
 *   replica data a second, beside `keccakMBps`, bare keccak256 over the same bytes in 32-byte leaves, in this run.
 * - `retrievalPaidToUnpaid`: a paid retrieval (lottery ticket per chunk, Merkle proof checked per chunk) over the
 *   memory transport against the same retrieval unpaid (price 0), same file, same code path (goal >= 0.95).
 */
import type { Address, Hex } from 'viem'
import { createChain } from '../src/chain/index.js'
import { keccak256 } from '../src/crypto/keccak.js'
import { fetchExchange } from '../src/exchange/index.js'
import { silentLogger } from '../src/core/logger.js'
import { deploySouk } from '../src/payments/deploy.js'
import { buildStorageTree, challengePositions, dataLeaf, detectionProbability, leafCount, multiProof, replicatedLeaf, treeDepth, verifyMultiProof } from '../src/proofs/storage/index.js'
import { deployStorageMarketContract } from '../src/services/storage/chain.js'
import { storageWorld } from '../src/services/storage/fixtures.js'
import { StorageConfigSchema } from '../src/services/storage/market.js'
import { STORAGE_RETRIEVE } from '../src/services/storage/protocol.js'
import { chunkPositions } from '../src/services/storage/terms.js'
import { hexToBytes } from '../src/crypto/bytes.js'
import { measureStorageGas } from './storage-gas.js'

const MB = 1e6

function provingRate(bytes: number, replicas: number, k: number) {
  const data = new Uint8Array(bytes).map((_, i) => (i * 131) & 255)
  const salt = keccak256(Uint8Array.of(1))
  const n = leafCount(bytes)
  // Baseline: keccak256 over every 32-byte leaf of the replicas, nothing else.
  let t0 = performance.now()
  const leaf = new Uint8Array(33)
  for (let g = 0; g < n * replicas; g++) { leaf.set(data.subarray((g % n) * 32, (g % n) * 32 + 32), 1); keccak256(leaf) }
  const keccakS = (performance.now() - t0) / 1000
  t0 = performance.now()
  const tree = buildStorageTree(n * replicas, (g) => replicatedLeaf(data, salt, n, g))
  const positions = challengePositions({ seed: keccak256(Uint8Array.of(2)), dealId: keccak256(Uint8Array.of(3)), period: 0, challenges: k, totalLeaves: n * replicas })
  const p = multiProof(tree, positions)
  const s = (performance.now() - t0) / 1000
  if (!verifyMultiProof({ root: tree.root, depth: tree.depth, positions, ...p })) throw new Error('the bench proof does not verify')
  return { provingMBps: (bytes * replicas) / MB / s, keccakMBps: (bytes * replicas) / MB / keccakS }
}

async function retrievalRatio(log: (s: string) => void) {
  const chain = await createChain({ kind: 'embedded', accounts: 8 })
  try {
    const dep = await deploySouk(chain, chain.devKeys[0])
    const market: Address = await deployStorageMarketContract(chain, chain.devKeys[0], dep.token)
    let k = 1
    const env = { chain, deployment: dep, storageMarket: market, nextKey: () => chain.devKeys[k++] as Hex, seed: 'bench-storage' }
    const cfg = { contentBytes: 2 << 20, chunkSize: 64 * 1024, replicas: 1, periods: 2, retrieveAfterPeriods: 0 }
    const w = await storageWorld(env, { chunkSize: 64 * 1024, retrievalPricePerChunk: StorageConfigSchema.parse({ storageMarket: market }).retrievalPricePerChunk }, cfg)
    try {
      const dealId = await w.client.client.stored
      const n = leafCount(w.client.data.length)
      const depth = treeDepth(n)
      const root = buildStorageTree(n, (i) => dataLeaf(w.client.data, i)).root
      const transport = w.net.createTransport({ peerId: 'bench-retriever' })
      const verify = (i: number, body: Uint8Array, meta: Record<string, unknown> | undefined) =>
        typeof meta?.proof === 'string' && verifyMultiProof({ root, depth, positions: chunkPositions(i, 64 * 1024, n), leaves: body, siblings: hexToBytes(meta.proof as Hex) })
      const once = async () => {
        const t0 = performance.now()
        const r = await fetchExchange(transport, 'provider', { protocol: STORAGE_RETRIEVE, payer: w.client.payer, request: { dealId }, logger: silentLogger(), verify })
        if (r.refused || r.chunks.length !== 32) throw new Error(`retrieval failed: ${r.refused?.reason}`)
        return (performance.now() - t0) / 1000
      }
      // The unpaid path: a second provider, its retrieval price 0 (the exchange then asks no payment), same file.
      const rounds = 8
      let paidS = 0, unpaidS = 0
      await once()
      for (let i = 0; i < rounds; i++) paidS += await once()
      const free = await storageWorld(env, { chunkSize: 64 * 1024, retrievalPricePerChunk: 0n }, cfg)
      try {
        const freeDeal = await free.client.client.stored
        const freeTransport = free.net.createTransport({ peerId: 'bench-retriever' })
        const freeOnce = async () => {
          const t0 = performance.now()
          const r = await fetchExchange(freeTransport, 'provider', { protocol: STORAGE_RETRIEVE, request: { dealId: freeDeal }, logger: silentLogger(), verify })
          if (r.refused || r.chunks.length !== 32) throw new Error(`free retrieval failed: ${r.refused?.reason}`)
          return (performance.now() - t0) / 1000
        }
        await freeOnce()
        for (let i = 0; i < rounds; i++) unpaidS += await freeOnce()
      } finally { await free.close() }
      const bytes = rounds * w.client.data.length
      log(`retrieval: paid ${(bytes / MB / paidS).toFixed(1)} MB/s, unpaid ${(bytes / MB / unpaidS).toFixed(1)} MB/s`)
      return { retrievalPaidMBps: bytes / MB / paidS, retrievalUnpaidMBps: bytes / MB / unpaidS, retrievalPaidToUnpaid: unpaidS / paidS }
    } finally { await w.close() }
  } finally { await chain.close() }
}

export async function benchStorage(o: { log?: (s: string) => void } = {}): Promise<Record<string, number>> {
  const log = o.log ?? (() => {})
  const gas = await measureStorageGas()
  log(`gas: proof k=5 depth 30 ${gas.proofGasK5Depth30}, per leaf ${gas.gasPerChallengedLeafDepth30}`)
  const k = StorageConfigSchema.parse({ storageMarket: '0x0000000000000000000000000000000000000001' }).challenges
  const prove = provingRate(8 << 20, 2, k)
  log(`proving ${prove.provingMBps.toFixed(1)} MB/s (keccak alone ${prove.keccakMBps.toFixed(1)} MB/s)`)
  const retrieval = await retrievalRatio(log)
  return {
    ...gas,
    defaultChallenges: k,
    detectionProbability1pctLoss30Periods: Number(detectionProbability({ lostFraction: 0.01, challenges: k, periods: 30 }).toFixed(4)),
    detectionProbabilityPdp5Challenges: Number(detectionProbability({ lostFraction: 0.01, challenges: 5, periods: 30 }).toFixed(4)),
    provingMBps: Number(prove.provingMBps.toFixed(2)),
    keccakMBps: Number(prove.keccakMBps.toFixed(2)),
    provingToKeccak: Number((prove.provingMBps / prove.keccakMBps).toFixed(3)),
    retrievalPaidMBps: Number(retrieval.retrievalPaidMBps.toFixed(2)),
    retrievalUnpaidMBps: Number(retrieval.retrievalUnpaidMBps.toFixed(2)),
    retrievalPaidToUnpaid: Number(retrieval.retrievalPaidToUnpaid.toFixed(3)),
  }
}
