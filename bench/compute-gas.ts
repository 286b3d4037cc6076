/**
 * Gas of WorkMarket's calls on the embedded EVM (hardhat's EDR in process) at the Osaka fork, so EIP-7623's calldata
 * floor (10 gas per zero byte, 40 per nonzero byte when it exceeds the execution price) is priced as on mainnet
 * today; the contracts are the ones `npm run build` compiles (evm cancun, which runs unchanged on Osaka).
 *
 * Each figure is a receipt's gasUsed (the 21,000 base included):
 *  - claimWorkGas2p20Units / claimWorkGas1024Units: a job's third and second claim (its first is a 1,024-unit one),
 *    so the previous batch's root is read as in steady state; a claim costs the same for any count (two new slots);
 *  - spotCheckGas / spotCheckGasDepth10: `fault` of a batch of 2^20 / 1,024 units (a path of 20 / 10 siblings from a
 *    real tree) with one verdict signature (quorum 1), by a finder whose balance slot is already nonzero (it found a
 *    fault before, as a checker faulting regularly has);
 *  - settleGasPerBatch: one `settle` of ten 64-unit batches divided by ten (the worker already paid once);
 *  - openJobGas: `openJob` with two checkers (deal signatures, two token pulls).
 * Building the 2^20-unit tree takes a few seconds. Not wired into bench/run.ts here.
 *
 * @example
 * ```ts
 * import { measureComputeGas } from './compute-gas.js'
 * const g = await measureComputeGas() // { claimWorkGas2p20Units: ..., spotCheckGas: ..., ... }
 * ```
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { keccak256, toHex, type Address, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import * as C from '../artifacts/contracts.js'
import { chainFromProvider, devKeys, type Chain, type Eip1193Provider } from '../src/chain/index.js'
import { deployContract } from '../src/chain/deploy.js'
import { write } from '../src/chain/tx.js'
import { marketDomain, signDealBody } from '../src/market/sign.js'
import { buildWorkTree, challengedUnits, signVerdict, workPath, type WorkTree } from '../src/proofs/work/index.js'
import { claimWork, computeDeal, faultBatch, openComputeJob, settleBatches, type ComputeTermsArg } from '../src/services/compute/contract.js'

const require = createRequire(import.meta.url)
const MAX_UINT256 = 2n ** 256n - 1n

/** The embedded EVM at Osaka (EIP-7623 priced), with `accounts` funded dev keys. */
async function osakaChain(accounts: number): Promise<Chain> {
  const keys = devKeys(accounts, 'compute-gas')
  const { resolveConfig } = require('hardhat/internal/core/config/config-resolution') as { resolveConfig(path: string, user: unknown): unknown }
  const { createProvider } = require('hardhat/internal/core/providers/construction') as { createProvider(config: unknown, network: string): Promise<Eip1193Provider> }
  const config = resolveConfig(fileURLToPath(new URL('../src/chain/hardhat.config.cjs', import.meta.url)), {
    networks: {
      hardhat: {
        chainId: 31337, hardfork: 'osaka', loggingEnabled: false, blockGasLimit: 60_000_000, mining: { auto: true, interval: 0 },
        accounts: keys.map((privateKey) => ({ privateKey, balance: (10n ** 24n).toString() })),
      },
    },
  })
  const provider = await createProvider(config, 'hardhat')
  return chainFromProvider(provider, { kind: 'embedded', devKeys: keys, dev: true })
}

/** Deterministic unit hashes: unit u's input and output hashes. */
const unitHashes = (tag: string, first: number, count: number) => {
  const out: { inputHash: Hex; outputHash: Hex }[] = []
  for (let i = 0; i < count; i++) {
    const u = first + i
    out.push({ inputHash: keccak256(toHex(`${tag}:in:${u}`)), outputHash: keccak256(toHex(`${tag}:out:${u}`)) })
  }
  return out
}

export async function measureComputeGas(): Promise<{
  claimWorkGas2p20Units: number
  claimWorkGas1024Units: number
  spotCheckGas: number
  spotCheckGasDepth10: number
  settleGasPerBatch: number
  openJobGas: number
}> {
  const chain = await osakaChain(6)
  try {
    const [deployer, client, worker, checker, checker2, finder] = chain.devKeys as Hex[]
    const addr = (k: Hex) => privateKeyToAddress(k).toLowerCase() as Address
    const token = await deployContract(chain, deployer!, C.SoukTokenAbi, C.SoukTokenBytecode, ['Souk Test Coin', 'SOUK', 10n ** 30n])
    const market = await deployContract(chain, deployer!, C.WorkMarketAbi, C.WorkMarketBytecode, [token])
    for (const k of [client!, worker!]) {
      await write(chain, chain.wallet(deployer!), { address: token, abi: C.SoukTokenAbi, functionName: 'faucet', args: [addr(k), 10n ** 24n] })
      await write(chain, chain.wallet(k), { address: token, abi: C.SoukTokenAbi, functionName: 'approve', args: [market, MAX_UINT256] })
    }
    const domain = marketDomain(chain.chainId, market)
    const vdomain = { chainId: chain.chainId, verifyingContract: market }
    let n = 0
    const open = async (o: Partial<ComputeTermsArg>) => {
      const terms: ComputeTermsArg = {
        token, checkers: [addr(checker!), addr(checker2!)], quorum: 1, units: 2 ** 21, maxBatch: 2 ** 20, pricePerUnit: 10n ** 12n, stake: 10n ** 20n,
        slash: 10n ** 18n, checksPerBatch: 16, finderBps: 500, challengeDelay: 2, disputeWindow: 64, responseWindow: 16, claimWithinBlocks: 10_000,
        profile: keccak256(toHex(`profile-${++n}`)), ...o,
      }
      const deal = computeDeal({ server: addr(worker!), buyer: addr(client!), terms, startsAt: 0, endsAt: 2 ** 50 })
      return openComputeJob(chain, client!, market, { deal, serverSig: signDealBody(deal, worker!, domain), buyerSig: signDealBody(deal, client!, domain), terms })
    }
    const mineTo = async (target: bigint) => {
      const k = target - 1n - (await chain.blockNumber())
      if (k > 0n) await chain.dev!.mine(Number(k))
    }
    const blockHash = async (b: bigint) => (await chain.public.getBlock({ blockNumber: b })).hash

    // Job A: claims of 1,024, 1,024 and 2^20 units.
    const a = await open({})
    const openJobGas = Number(a.receipt.gasUsed)
    const trees: WorkTree[] = []
    const claims: { batch: number; seedBlock: bigint; units: { inputHash: Hex; outputHash: Hex }[] }[] = []
    const gas: number[] = []
    let first = 0
    for (const count of [1024, 1024, 2 ** 20]) {
      const units = unitHashes('bench', first, count)
      const tree = buildWorkTree(first, units)
      const c = await claimWork(chain, worker!, market, { jobId: a.jobId, first, count, root: tree.root })
      trees.push(tree)
      claims.push({ batch: c.batch, seedBlock: c.seedBlock, units })
      gas.push(Number(c.receipt.gasUsed))
      first += count
    }
    // Faults of index 0 of each batch (batch 0 first, so the finder's balance slot is nonzero for the measured two).
    await mineTo(claims[2]!.seedBlock + 1n)
    const faultGas: number[] = []
    for (let b = 0; b < 3; b++) {
      const { batch, seedBlock, units } = claims[b]!
      const tree = trees[b]!
      const unit = challengedUnits(await blockHash(seedBlock), a.jobId, batch, tree.first, tree.count, 16)[0]!
      const leaf = units[unit - tree.first]!
      const sig = await signVerdict(checker!, vdomain, { jobId: a.jobId, batch, unit, output: leaf.outputHash })
      const f = await faultBatch(chain, finder!, market, { jobId: a.jobId, batch, index: 0, inputHash: leaf.inputHash, outputHash: leaf.outputHash, path: workPath(tree, unit - tree.first), sigs: [sig] }, { gas: 1_000_000n })
      faultGas.push(Number(f.receipt.gasUsed))
    }

    // Job B: eleven 64-unit batches; batch 0 settled alone, then ten in one transaction.
    const b = await open({ units: 11 * 64, maxBatch: 64 })
    let last = 0n
    for (let i = 0; i < 11; i++) {
      const c = await claimWork(chain, worker!, market, { jobId: b.jobId, first: i * 64, count: 64, root: buildWorkTree(i * 64, unitHashes('settle', i * 64, 64)).root })
      last = c.seedBlock
    }
    await mineTo(last + 64n + 1n)
    await settleBatches(chain, deployer!, market, b.jobId, [0])
    const s = await settleBatches(chain, deployer!, market, b.jobId, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    if (s.settled.length !== 10) throw new Error(`compute gas bench: ${s.settled.length} of 10 batches settled`)
    return {
      claimWorkGas2p20Units: gas[2]!,
      claimWorkGas1024Units: gas[1]!,
      spotCheckGas: faultGas[2]!,
      spotCheckGasDepth10: faultGas[1]!,
      settleGasPerBatch: Math.round(Number(s.receipt.gasUsed) / 10),
      openJobGas,
    }
  } finally {
    await chain.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await measureComputeGas(), null, 2))
}
