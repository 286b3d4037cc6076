/**
 * Deploys Souk's contracts and records their addresses per chain id.
 *
 * @example
 * ```ts
 * import { createChain } from './chain.js'
 * import { deploySouk } from './deploy.js'
 * const chain = await createChain({ kind: 'embedded' })
 * const d = await deploySouk(chain, chain.devKeys[0])
 * d.ticketBroker // 0x…  (also d.paymentChannel, d.extra.concurrentLottery)
 * ```
 */
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Abi, Address, Hex } from 'viem'
import * as C from '../../artifacts/contracts.js'
import type { Chain } from './types.js'
import { ChainError, toChainError } from './errors.js'
import { serialSend, waitReceipt, write } from './tx.js'

export interface SoukDeployment {
  chainId: number
  token: Address
  ticketBroker: Address
  paymentChannel: Address
  /** Extra contracts deployed by later modules (e.g. `concurrentLottery`). */
  extra: Record<string, Address>
  deployer: Address
  blockNumber: string
  params: { unlockPeriodBlocks: number; settleDelayBlocks: number; faucetCap: string }
}

export interface DeployOptions {
  /** Reuse an existing ERC-20 instead of deploying the fake coin. */
  token?: Address
  unlockPeriodBlocks?: number
  settleDelayBlocks?: number
  /** Most one faucet call mints (fake coin only). */
  faucetCap?: bigint
  /** Where to record the addresses (JSON keyed by chain id); none by default. */
  recordPath?: string
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

export async function deploySouk(chain: Chain, deployerKey: Hex, opts: DeployOptions = {}): Promise<SoukDeployment> {
  const unlock = opts.unlockPeriodBlocks ?? 100
  const settle = opts.settleDelayBlocks ?? 50
  const cap = opts.faucetCap ?? 10n ** 30n
  const token = opts.token ?? (await deployContract(chain, deployerKey, C.SoukTokenAbi, C.SoukTokenBytecode, ['Souk Test Coin', 'SOUK', cap]))
  const ticketBroker = await deployContract(chain, deployerKey, C.TicketBrokerAbi, C.TicketBrokerBytecode, [token, BigInt(unlock)])
  const paymentChannel = await deployContract(chain, deployerKey, C.PaymentChannelAbi, C.PaymentChannelBytecode, [token, BigInt(settle)])
  // The microcash scheme's escrows (src/payments/microcash).
  const concurrentLottery = await deployContract(chain, deployerKey, C.ConcurrentLotteryAbi, C.ConcurrentLotteryBytecode, [token])
  const d: SoukDeployment = {
    chainId: chain.chainId,
    token,
    ticketBroker,
    paymentChannel,
    extra: { concurrentLottery },
    deployer: chain.wallet(deployerKey).account.address,
    blockNumber: (await chain.blockNumber()).toString(),
    params: { unlockPeriodBlocks: unlock, settleDelayBlocks: settle, faucetCap: cap.toString() },
  }
  if (opts.recordPath) recordDeployment(opts.recordPath, d)
  return d
}

/** Adds `d` to the JSON file at `path` under its chain id. */
export function recordDeployment(path: string, d: SoukDeployment): void {
  const all = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, SoukDeployment>) : {}
  all[String(d.chainId)] = d
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(all, null, 2))
}

/** Reads the deployment recorded for `chainId`, or undefined. */
export function loadDeployment(path: string, chainId: number): SoukDeployment | undefined {
  if (!existsSync(path)) return undefined
  return (JSON.parse(readFileSync(path, 'utf8')) as Record<string, SoukDeployment>)[String(chainId)]
}

/** Mints fake coins from the faucet to `to` (dev chains). */
export async function faucet(chain: Chain, key: Hex, token: Address, to: Address, amount: bigint) {
  return write(chain, chain.wallet(key), { address: token, abi: C.SoukTokenAbi, functionName: 'faucet', args: [to, amount] })
}
