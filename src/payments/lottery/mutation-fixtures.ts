/**
 * The chain both lottery-payee mutation test files start from: a TicketBroker deployment and four payers (A, B and
 * U with a deposit and an allowance to fund reserves, POOR with a deposit only), and a temporary folder for SQLite
 * files. Test-only (`*.mutation.test.ts`).
 *
 * @example
 * ```ts
 * import { lotteryPayers } from './mutation-fixtures.js'
 * const w = await lotteryPayers({ accounts: 40, unlockPeriodBlocks: 30, reserve: 10n ** 20n, tmpPrefix: 'souk-x-' })
 * await w.close()
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyToAddress } from 'viem/accounts'
import type { Address, Hex } from 'viem'
import { createChain, abis, type Chain } from '../../chain/index.js'
import { faucet } from '../../chain/deploy.js'
import { write } from '../../chain/tx.js'
import { deploySouk, type SoukDeployment } from '../deploy.js'
import { fundPayer } from '../registry.js'

export interface LotteryPayers {
  chain: Chain
  d: SoukDeployment
  keys: Hex[]
  A: Hex
  B: Hex
  U: Hex
  POOR: Hex
  dir: string
  close(): Promise<void>
}

export async function lotteryPayers(o: { accounts: number; unlockPeriodBlocks: number; reserve: bigint; tmpPrefix: string }): Promise<LotteryPayers> {
  const chain = await createChain({ kind: 'embedded', accounts: o.accounts })
  const d = await deploySouk(chain, chain.devKeys[0]!, { unlockPeriodBlocks: o.unlockPeriodBlocks })
  const keys = chain.devKeys as Hex[]
  const [, A, B, U, POOR] = keys as [Hex, Hex, Hex, Hex, Hex]
  const addr = (k: Hex) => privateKeyToAddress(k).toLowerCase() as Address
  // Each payer gets a deposit and allows the broker to take reserves (funded per payee as tests need them).
  for (const k of [A, B, U]) {
    await fundPayer('lottery', { chain, deployment: d, key: k }, { deposit: o.reserve })
    await faucet(chain, k, d.token, addr(k), 100n * o.reserve)
    await write(chain, chain.wallet(k), { address: d.token, abi: abis.SoukTokenAbi, functionName: 'approve', args: [d.contracts.lottery.ticketBroker, 100n * o.reserve] })
  }
  await fundPayer('lottery', { chain, deployment: d, key: POOR }, { deposit: o.reserve })
  const dir = mkdtempSync(join(tmpdir(), o.tmpPrefix))
  return { chain, d, keys, A, B, U, POOR, dir, async close() { await chain.close(); rmSync(dir, { recursive: true, force: true }) } }
}
