/**
 * Gas of StorageMarket's calls on the embedded EVM (hardhat's EDR in process) at the Osaka fork, so EIP-7623's calldata
 * floor (10 gas per zero byte, 40 per nonzero byte of calldata when it exceeds the execution price) is priced as on
 * mainnet today; the contracts are the ones `npm run build` compiles (evm cancun, which runs unchanged on Osaka).
 *
 * A depth-30 tree (2^30 leaves, 32 GiB) cannot be built, but one whose leaves all equal one nonzero 32-byte value L has
 * every node at a height equal: H_0 = leaf(L), H_h = node(H_{h-1}, H_{h-1}). Its root is H_30 and any multi-proof is
 * L for each challenged leaf and H_h for each sibling at height h, nonzero bytes all, so calldata is priced as for a
 * real tree. Each proof measured is a deal's second one (its provider already has a balance, as one proving every
 * period does), the receipt's gasUsed. Not wired into bench/run.ts.
 *
 * @example
 * ```ts
 * import { measureStorageGas } from './storage-gas.js'
 * const g = await measureStorageGas() // { proofGasK5Depth30: ..., gasPerChallengedLeafDepth30: ..., ... }
 * ```
 */
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { bytesToHex, parseEventLogs, type Address, type Hex } from 'viem'
import * as C from '../artifacts/contracts.js'
import { chainFromProvider, devKeys, type Chain, type Eip1193Provider } from '../src/chain/index.js'
import { deployContract } from '../src/chain/deploy.js'
import { write } from '../src/chain/tx.js'
import { privateKeyToAddress } from 'viem/accounts'
import { marketDomain, signDealBody } from '../src/market/sign.js'
import { challengePositions, leafNode, normalizePositions, parentNode } from '../src/proofs/storage/index.js'
import { dealTuple, proofTuple, storageDeal, type StorageTermsArg } from '../src/services/storage/contract.js'

const require = createRequire(import.meta.url)
const DEPTH = 30
const MAX_UINT256 = 2n ** 256n - 1n

/** The embedded EVM at Osaka (EIP-7623 priced), with `accounts` funded dev keys. */
async function osakaChain(accounts: number): Promise<Chain> {
  const keys = devKeys(accounts, 'storage-gas')
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

/** The nodes of the uniform tree: H[h] at height h. */
function uniformNodes(leaf: Uint8Array, depth: number): Uint8Array[] {
  const H = [leafNode(leaf).slice()]
  for (let h = 1; h <= depth; h++) H.push(parentNode(H[h - 1]!, H[h - 1]!).slice())
  return H
}

/** A multi-proof of `positions` in the uniform tree, siblings in tree.ts's order. */
function uniformProof(positions: readonly number[], leaf: Uint8Array, H: readonly Uint8Array[], depth: number): { leaves: Uint8Array; siblings: Uint8Array } {
  let cur = normalizePositions(positions, depth)
  const leaves = new Uint8Array(cur.length * 32)
  cur.forEach((_, i) => leaves.set(leaf, i * 32))
  const sib: Uint8Array[] = []
  for (let h = 0; h < depth; h++) {
    const next: number[] = []
    for (let i = 0; i < cur.length; i++) {
      const p = cur[i]!
      if ((p & 1) === 0 && cur[i + 1] === p + 1) i++
      else sib.push(H[h]!)
      next.push(p >> 1)
    }
    cur = next
  }
  const siblings = new Uint8Array(sib.length * 20)
  sib.forEach((s, i) => siblings.set(s, i * 20))
  return { leaves, siblings }
}

export async function measureStorageGas(): Promise<{
  proofGasK5Depth30: number
  gasPerChallengedLeafDepth30: number
  proofGasK16Depth30: number
  proveBatchOf10K5PerDeal: number
  openDealGas: number
  activateGas: number
  faultGas: number
}> {
  const chain = await osakaChain(4)
  try {
    const [deployer, client, provider] = chain.devKeys as Hex[]
    const addr = (k: Hex) => privateKeyToAddress(k).toLowerCase() as Address
    const token = await deployContract(chain, deployer!, C.SoukTokenAbi, C.SoukTokenBytecode, ['Souk Test Coin', 'SOUK', 10n ** 30n])
    const market = await deployContract(chain, deployer!, C.StorageMarketAbi, C.StorageMarketBytecode, [token])
    for (const k of [client!, provider!]) {
      await write(chain, chain.wallet(deployer!), { address: token, abi: C.SoukTokenAbi, functionName: 'faucet', args: [addr(k), 10n ** 24n] })
      await write(chain, chain.wallet(k), { address: token, abi: C.SoukTokenAbi, functionName: 'approve', args: [market, MAX_UINT256] })
    }
    const domain = marketDomain(chain.chainId, market)
    const leaf = new Uint8Array(32).map((_, i) => 0x5a ^ (i * 37 + 1))
    const H = uniformNodes(leaf, DEPTH)
    const M = { address: market, abi: C.StorageMarketAbi }

    let n = 0
    const open = async (challenges: number, o: Partial<StorageTermsArg> = {}) => {
      const terms: StorageTermsArg = {
        root: bytesToHex(H[DEPTH]!), dataRoot: bytesToHex(H[DEPTH]!), salt: `0x${(++n).toString(16).padStart(64, '0')}`, leavesPerReplica: 1n << BigInt(DEPTH), replicas: 1,
        challenges, periodBlocks: 300, windowBlocks: 256, periods: 12, activateWithinBlocks: 100, pricePerPeriod: 10n ** 18n, collateral: 10n ** 20n, ...o,
      }
      const deal = storageDeal({ server: addr(provider!), buyer: addr(client!), terms, startsAt: 0, endsAt: 2 ** 50 })
      const r = await write(chain, chain.wallet(client!), { ...M, functionName: 'openDeal', args: [dealTuple(deal), signDealBody(deal, provider!, domain), signDealBody(deal, client!, domain), terms] })
      const id = parseEventLogs({ abi: C.StorageMarketAbi, logs: r.logs, eventName: 'DealOpened' })[0]!.args.dealId
      return { id, terms, openGas: r.gasUsed }
    }
    const activate = async (id: Hex) => {
      const r = await write(chain, chain.wallet(provider!), { ...M, functionName: 'activate', args: [id] })
      return { start: r.blockNumber, gas: r.gasUsed }
    }
    const blockHash = async (b: bigint) => (await chain.public.getBlock({ blockNumber: b })).hash
    const proofFor = async (d: { id: Hex; terms: StorageTermsArg; start: bigint }, t: number) => {
      const sb = d.start + BigInt((t + 1) * d.terms.periodBlocks - d.terms.windowBlocks)
      const positions = challengePositions({ seed: await blockHash(sb), dealId: d.id, period: t, challenges: d.terms.challenges, totalLeaves: 2 ** DEPTH })
      return proofTuple({ dealId: d.id, period: t, ...uniformProof(positions, leaf, H, DEPTH) })
    }
    const mineTo = async (target: bigint) => {
      const k = target - 1n - (await chain.blockNumber())
      if (k > 0n) await chain.dev!.mine(Number(k))
    }
    const proveGas = async (proofs: ReturnType<typeof proofTuple>[]) => {
      const r = await write(chain, chain.wallet(provider!), { ...M, functionName: 'prove', args: [proofs], gas: 5_000_000n })
      const evs = parseEventLogs({ abi: C.StorageMarketAbi, logs: r.logs, eventName: 'PeriodProven' })
      if (evs.length !== proofs.length) throw new Error(`storage gas bench: ${evs.length} of ${proofs.length} proofs verified`)
      return Number(r.gasUsed)
    }
    const windowOf = (d: { terms: StorageTermsArg; start: bigint }, t: number) => d.start + BigInt((t + 1) * d.terms.periodBlocks - d.terms.windowBlocks) + 1n

    // Ten k = 5 deals and one k = 16 deal, activated one after the other (their windows overlap).
    const k5: { id: Hex; terms: StorageTermsArg; start: bigint }[] = []
    let openDealGas = 0, activateGas = 0
    for (let i = 0; i < 10; i++) {
      const o = await open(5)
      const a = await activate(o.id)
      if (i === 0) { openDealGas = Number(o.openGas); activateGas = Number(a.gas) }
      k5.push({ ...o, start: a.start })
    }
    const o16 = await open(16)
    const k16 = { ...o16, start: (await activate(o16.id)).start }
    const last = k16.start
    // Period 0: every deal proven once (the providers' balance and each deal's progress word are then nonzero).
    await mineTo(windowOf({ terms: k16.terms, start: last }, 0))
    await proveGas(await Promise.all([...k5, k16].map((d) => proofFor(d, 0))))
    // Period 1: one k = 5 proof alone, one k = 16 proof alone.
    await mineTo(windowOf({ terms: k16.terms, start: last }, 1))
    const proofGasK5Depth30 = await proveGas([await proofFor(k5[0]!, 1)])
    const proofGasK16Depth30 = await proveGas([await proofFor(k16, 1)])
    // Period 2: all ten k = 5 deals in one transaction.
    await mineTo(windowOf({ terms: k16.terms, start: last }, 2))
    const proveBatchOf10K5PerDeal = await proveGas(await Promise.all(k5.map((d) => proofFor(d, 2))))
    // A fault: period 3 of the first deal passes without a proof.
    const d0 = k5[0]!
    await mineTo(d0.start + BigInt(4 * d0.terms.periodBlocks) + 1n)
    const f = await write(chain, chain.wallet(deployer!), { ...M, functionName: 'fault', args: [d0.id, 3n] })
    return {
      proofGasK5Depth30,
      gasPerChallengedLeafDepth30: (proofGasK5Depth30 - 21_000) / 5,
      proofGasK16Depth30,
      proveBatchOf10K5PerDeal,
      openDealGas,
      activateGas,
      faultGas: Number(f.gasUsed),
    }
  } finally {
    await chain.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await measureStorageGas(), null, 2))
}
