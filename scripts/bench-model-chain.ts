/**
 * Ticket redemptions per second, the model-backed chain against the embedded EVM: the same batches of 100 winning
 * tickets (one run each, `redeemRuns`, paid now) sent through `write` (estimate, sign, send, receipt: what the lottery
 * payee does). Prints only: `npx tsx scripts/bench-model-chain.ts [batches]`.
 */
import { encodeFunctionData, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { abis, createChain, write, type Chain } from '../src/chain/index.js'
import { deploySouk } from '../src/payments/deploy.js'
import { MAX_WIN_PROB, randHash, signTicket, ticketDomain, toTicketRuns } from '../src/payments/lottery/ticket.js'
import { createModelChain } from '../src/sim/model-chain.js'

const BATCHES = Number(process.argv[2] ?? 10)
const PER_BATCH = 100

async function bench(chain: Chain): Promise<{ write: number; execute: number }> {
  const d = await deploySouk(chain, chain.devKeys[0])
  const [payerKey, payeeKey] = [chain.devKeys[1]!, chain.devKeys[2]!] as Hex[]
  const payer = privateKeyToAddress(payerKey), payee = privateKeyToAddress(payeeKey)
  const broker = d.contracts.lottery.ticketBroker
  const w = chain.wallet(payerKey)
  await write(chain, w, { address: d.token, abi: abis.SoukTokenAbi, functionName: 'faucet', args: [payer, 10n ** 24n] })
  await write(chain, w, { address: d.token, abi: abis.SoukTokenAbi, functionName: 'approve', args: [broker, 10n ** 24n] })
  await write(chain, w, { address: broker, abi: abis.TicketBrokerAbi, functionName: 'fundDeposit', args: [10n ** 24n] })
  const domain = ticketDomain(chain.chainId, broker)
  const batches = Array.from({ length: BATCHES }, (_, b) => toTicketRuns(Array.from({ length: PER_BATCH }, (_, i) => {
    const rand = BigInt(b * 1000 + i + 1)
    const t = { recipient: payee, sender: payer, faceValue: 10n ** 15n, winProb: MAX_WIN_PROB, senderNonce: (BigInt(b + 1) << 128n) | BigInt(i), recipientRandHash: randHash(rand), expirationBlock: 10_000n }
    return { sender: payer, faceValue: t.faceValue, winProb: t.winProb, expirationBlock: t.expirationBlock, senderNonce: t.senderNonce, sig: signTicket(domain, t, payerKey), rand }
  })))
  // Execution alone: eth_estimateGas runs each batch's redemption (every check, every signature) without mining it.
  const data = batches.map((runs) => encodeFunctionData({ abi: abis.TicketBrokerAbi, functionName: 'redeemRuns', args: [runs, true] }))
  const t1 = performance.now()
  for (const input of data) await chain.provider.request({ method: 'eth_estimateGas', params: [{ from: payee, to: broker, data: input }] })
  const execute = (BATCHES * PER_BATCH) / ((performance.now() - t1) / 1000)
  const t0 = performance.now()
  for (const runs of batches) await write(chain, chain.wallet(payeeKey), { address: broker, abi: abis.TicketBrokerAbi, functionName: 'redeemRuns', args: [runs, true] })
  const s = (performance.now() - t0) / 1000
  await chain.close()
  return { write: (BATCHES * PER_BATCH) / s, execute }
}

const evm = await bench(await createChain({ kind: 'embedded', accounts: 4 }))
const model = await bench(await createModelChain({ accounts: 4 }))
console.log(`ticket redemptions/s, ${BATCHES} batches of ${PER_BATCH}:`)
console.log(`  executed (eth_estimateGas): EVM ${evm.execute.toFixed(0)}, model ${model.execute.toFixed(0)}, model/EVM ${(model.execute / evm.execute).toFixed(2)}x`)
console.log(`  through write (estimate, send, poll for the receipt): EVM ${evm.write.toFixed(0)}, model ${model.write.toFixed(0)}, model/EVM ${(model.write / evm.write).toFixed(2)}x`)
