/**
 * Deploying contracts and recording where they are, per chain id. The chain layer names no payment scheme:
 * `deploySouk` (src/payments/deploy.ts) deploys the token and each scheme with `deployContract`, and the result is a
 * `Deployment<Contracts>` whose `contracts` the payment layer types.
 *
 * @example
 * ```ts
 * import { createChain } from './chain.js'
 * import { deployContract } from './deploy.js'
 * const chain = await createChain({ kind: 'embedded' })
 * const token = await deployContract(chain, chain.devKeys[0], abis.SoukTokenAbi, abis.SoukTokenBytecode, ['Souk Test Coin', 'SOUK', 10n ** 30n])
 * ```
 */
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Abi, Address, Hex } from 'viem'
import * as C from '../../artifacts/contracts.js'
import type { Chain } from './types.js'
import { ChainError, toChainError } from './errors.js'
import { serialSend, waitReceipt, write } from './tx.js'

/** Where a set of contracts paying in `token` lives on one chain; `contracts` is the deployer's own record. */
export interface Deployment<Contracts = Record<string, unknown>> {
  chainId: number
  token: Address
  deployer: Address
  /** Latest block once everything was deployed (decimal string). */
  blockNumber: string
  /** Most one faucet call mints (decimal string; the fake coin only). */
  faucetCap: string
  contracts: Contracts
}

/** Deploys any compiled contract by name and returns its address. */
export async function deployContract(chain: Chain, deployerKey: Hex, abi: Abi | readonly unknown[], bytecode: Hex, args: readonly unknown[] = []): Promise<Address> {
  const w = chain.wallet(deployerKey)
  let hash: Hex
  try {
    hash = await serialSend(w, () => w.deployContract({ abi: abi as Abi, bytecode, args } as never))
  } catch (e) {
    throw toChainError(e, 'deploy')
  }
  const r = await waitReceipt(chain, hash)
  if (!r.contractAddress) throw new ChainError('Deployment produced no contract address', { details: { tx: hash } })
  return r.contractAddress
}

/** Adds `d` to the JSON file at `path` under its chain id. */
export function recordDeployment(path: string, d: Deployment<unknown>): void {
  const all = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, Deployment<unknown>>) : {}
  all[String(d.chainId)] = d
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(all, null, 2))
}

/** Reads the deployment recorded for `chainId`, or undefined. */
export function loadDeployment<Contracts = Record<string, unknown>>(path: string, chainId: number): Deployment<Contracts> | undefined {
  if (!existsSync(path)) return undefined
  return (JSON.parse(readFileSync(path, 'utf8')) as Record<string, Deployment<Contracts>>)[String(chainId)]
}

/** Mints fake coins from the faucet to `to` (dev chains). */
export async function faucet(chain: Chain, key: Hex, token: Address, to: Address, amount: bigint) {
  return write(chain, chain.wallet(key), { address: token, abi: C.SoukTokenAbi, functionName: 'faucet', args: [to, amount] })
}
