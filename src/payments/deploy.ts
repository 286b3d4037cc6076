/**
 * Deploys Souk: the token (the fake coin on dev chains, or an existing ERC-20), then each payment scheme of
 * `schemes.ts` in list order, whose contracts land in `deployment.contracts[name]`.
 *
 * @example
 * ```ts
 * import { createChain } from '../chain/index.js'
 * import { deploySouk } from './deploy.js'
 * const chain = await createChain({ kind: 'embedded' })
 * const d = await deploySouk(chain, chain.devKeys[0], { unlockPeriodBlocks: 20 })
 * d.contracts.lottery.ticketBroker // 0x…  (also d.contracts.channel.paymentChannel, d.contracts.microcash.concurrentLottery)
 * ```
 */
import type { Address, Hex } from 'viem'
import { deployContract, recordDeployment, type Deployment } from '../chain/deploy.js'
import type { Chain } from '../chain/types.js'
import { SoukTokenAbi, SoukTokenBytecode } from '../../artifacts/contracts.js'
import type { PaymentScheme } from './scheme.js'
import { schemes, type AnyScheme, type SchemeName, type SchemeOf } from './schemes.js'

type ContractsOf<S> = S extends PaymentScheme<string, infer C, object, object> ? C : never
type DeployParamsOf<S> = S extends { deploy(chain: Chain, key: Hex, params: infer P): unknown } ? Omit<P, 'token'> : never
type Intersect<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never

/** `deployment.contracts`: each scheme's contracts under its name. */
export type SchemeContractsByName = { [N in SchemeName]: ContractsOf<SchemeOf<N>> }

/** A Souk deployment: the token, and every scheme's contracts (`contracts[name]`). */
export type SoukDeployment = Deployment<SchemeContractsByName>

export type DeployOptions = {
  /** Reuse an existing ERC-20 instead of deploying the fake coin. */
  token?: Address
  /** Most one faucet call mints (fake coin only). */
  faucetCap?: bigint
  /** Where to record the addresses (JSON keyed by chain id); none by default. */
  recordPath?: string
} & Intersect<DeployParamsOf<AnyScheme>>

/** Deploys the token, then each scheme (see the module comment). */
export async function deploySouk(chain: Chain, deployerKey: Hex, opts: DeployOptions = {}): Promise<SoukDeployment> {
  const cap = opts.faucetCap ?? 10n ** 30n
  const token = opts.token ?? (await deployContract(chain, deployerKey, SoukTokenAbi, SoukTokenBytecode, ['Souk Test Coin', 'SOUK', cap]))
  const contracts: Record<string, unknown> = {}
  for (const s of schemes()) contracts[s.name] = await (s as PaymentScheme).deploy(chain, deployerKey, { ...opts, token })
  const d: SoukDeployment = {
    chainId: chain.chainId,
    token,
    deployer: chain.wallet(deployerKey).account.address,
    blockNumber: (await chain.blockNumber()).toString(),
    faucetCap: cap.toString(),
    contracts: contracts as SchemeContractsByName,
  }
  if (opts.recordPath) recordDeployment(opts.recordPath, d)
  return d
}
