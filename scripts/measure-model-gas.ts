/**
 * Measures the gas constants of the model-backed chain (src/sim/model-chain.ts, `MODEL_GAS`): runs the same
 * transactions on the embedded EVM and on the model chain with every constant at zero, and prints, per function and
 * shape, the EVM's gasUsed less the model's (what the code computes beyond the storage, logs, calls and calldata the
 * model meters itself), and the residual with the committed table (0 where it fits). The redeemRuns formula
 * (GasTable.redeemRuns) was solved from its 1..32-ticket and two-run rows. A transaction whose refund is capped (a fifth of its gas) shows less than its
 * constant: `withdraw`'s 2,489 here is 3,110 in the table (x − x/5 = 2,489 with the cap binding both ways); the
 * residual column, the committed table's, shows the fit. Run once after a contract or compiler change:
 *   npx tsx scripts/measure-model-gas.ts
 */
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { createChain, write, abis, type Chain } from '../src/chain/index.js'
import { deploySouk } from '../src/payments/deploy.js'
import { randHash, signTicket, ticketDomain, toTicketRuns, MAX_WIN_PROB } from '../src/payments/lottery/ticket.js'
import { createModelChain, MODEL_GAS, type GasTable } from '../src/sim/model-chain.js'

const ZERO: GasTable = {
  deploy: { SoukToken: 0, TicketBroker: 0, PaymentChannel: 0, ConcurrentLottery: 0 },
  call: Object.fromEntries(Object.keys(MODEL_GAS.call).map((k) => [k, 0])),
  revert: Object.fromEntries(Object.keys(MODEL_GAS.revert).map((k) => [k, 0])),
  redeemRuns: { base: 0, perTicket: 0, perHalfWord: 0, memoryWords: 0, wordsPerRun: 0, perExtraRun: 0, perQueued: 0, transfer: 0 },
  redeemTicket: { base: 0, perTicket: 0, perQueued: 0 },
  perClaimPaid: 0,
}

type Rec = { label: string; gas: bigint }

async function scenario(chain: Chain, out: Rec[]) {
  const keys = chain.devKeys
  const d = await deploySouk(chain, keys[0])
  // deploySouk's four creations are blocks 1..4
  for (let i = 1; i <= 4; i++) {
    const b = await chain.public.getBlock({ blockNumber: BigInt(i), includeTransactions: true })
    const r = await chain.public.getTransactionReceipt({ hash: b.transactions[0]!.hash })
    out.push({ label: `deploy:${['SoukToken', 'TicketBroker', 'PaymentChannel', 'ConcurrentLottery'][i - 1]}`, gas: r.gasUsed })
  }
  const token = d.token
  const broker = d.contracts.lottery.ticketBroker
  const T = abis.SoukTokenAbi, B = abis.TicketBrokerAbi
  const payerKey = keys[1], payeeKey = keys[2], payee2Key = keys[3]
  const payer = privateKeyToAddress(payerKey), payee = privateKeyToAddress(payeeKey)
  const tx = async (label: string, key: Hex, address: Address, abi: readonly unknown[], functionName: string, args: unknown[] = []) => {
    const r = await write(chain, chain.wallet(key), { address, abi, functionName, args })
    out.push({ label, gas: r.gasUsed })
  }
  await tx('faucet:new', payerKey, token, T, 'faucet', [payer, 10n ** 24n])
  await tx('faucet:again', payerKey, token, T, 'faucet', [payer, 10n ** 24n])
  await tx('approve:new', payerKey, token, T, 'approve', [broker, 10n ** 24n])
  await tx('approve:again', payerKey, token, T, 'approve', [broker, 2n * 10n ** 24n])
  await tx('fundDeposit:new', payerKey, broker, B, 'fundDeposit', [10n ** 21n])
  await tx('fundDeposit:again', payerKey, broker, B, 'fundDeposit', [10n ** 21n])
  await tx('fundReserve:new', payerKey, broker, B, 'fundReserve', [payee, 10n ** 20n])
  await tx('fundReserve:again', payerKey, broker, B, 'fundReserve', [payee, 10n ** 20n])
  await tx('transfer:new', payerKey, token, T, 'transfer', [privateKeyToAddress(keys[4]), 10n ** 18n])
  await tx('transfer:again', payerKey, token, T, 'transfer', [privateKeyToAddress(keys[4]), 10n ** 18n])
  await tx('transfer:approve-max', keys[4], token, T, 'approve', [privateKeyToAddress(keys[5]), (1n << 256n) - 1n])
  await tx('transferFrom:max', keys[5], token, T, 'transferFrom', [privateKeyToAddress(keys[4]), privateKeyToAddress(keys[5]), 10n ** 17n])

  const domain = ticketDomain(chain.chainId, broker)
  let lane = 1n
  const exp = 10_000n
  const face = 10n ** 16n
  const mk = (recipient: Address, n: number, l: bigint, rand: bigint, from = 0) => Array.from({ length: n }, (_, i) => {
    const nonce = (l << 128n) | BigInt(from + i)
    const t = { recipient, sender: payer, faceValue: face, winProb: MAX_WIN_PROB, senderNonce: nonce, recipientRandHash: randHash(rand), expirationBlock: exp }
    return { t, sig: signTicket(domain, t, payerKey), rand }
  })
  const runsOf = (ts: ReturnType<typeof mk>) => toTicketRuns(ts.map((x) => ({ sender: x.t.sender, faceValue: x.t.faceValue, winProb: x.t.winProb, expirationBlock: x.t.expirationBlock, senderNonce: x.t.senderNonce, sig: x.sig, rand: x.rand })))
  // redeemRuns, one run of n tickets, paid now; the first lands the payee's first token balance
  for (const n of [1, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32]) {
    await tx(`redeemRuns:now:1x${n}`, payeeKey, broker, B, 'redeemRuns', [runsOf(mk(payee, n, lane++, 1000n + lane)), true])
  }
  // big batches (the payee sends up to 256 a transaction): the memory cost's quadratic term
  for (const n of [64, 100, 256]) await tx(`redeemRuns:now:1x${n}`, payeeKey, broker, B, 'redeemRuns', [runsOf(mk(payee, n, lane++, 3000n + lane)), true])
  // runs of different sizes
  for (const sizes of [[3, 5, 2], [1, 7], [40, 60, 20, 9]]) {
    const rs = sizes.flatMap((n) => runsOf(mk(payee, n, lane++, 5000n + lane)))
    await tx(`redeemRuns:now:${sizes.join('+')}`, payeeKey, broker, B, 'redeemRuns', [rs, true])
  }
  // two runs
  for (const n of [1, 2, 4]) {
    const a = mk(payee, n, lane++, 7n + lane), b = mk(payee, n, lane++, 9n + lane)
    await tx(`redeemRuns:now:2x${n}`, payeeKey, broker, B, 'redeemRuns', [[...runsOf(a), ...runsOf(b)], true])
  }
  // credit
  for (const n of [1, 2, 4]) await tx(`redeemRuns:credit:1x${n}`, payeeKey, broker, B, 'redeemRuns', [runsOf(mk(payee, n, lane++, 77n + lane)), false])
  await tx('withdrawCredit', payeeKey, broker, B, 'withdrawCredit')
  for (const n of [1, 2]) await tx(`redeemRuns:credit-again:1x${n}`, payeeKey, broker, B, 'redeemRuns', [runsOf(mk(payee, n, lane++, 78n + lane)), false])
  // the same lane again (nonzero lane word)
  const l0 = lane++
  await tx('redeemRuns:now:1x1', payeeKey, broker, B, 'redeemRuns', [runsOf(mk(payee, 1, l0, 5n)), true])
  await tx('redeemRuns:now-lane-again:1x1', payeeKey, broker, B, 'redeemRuns', [runsOf(mk(payee, 1, l0, 6n, 1)), true])
  // single-ticket struct format
  const argOf = (x: ReturnType<typeof mk>[number]) => ({ ticket: x.t, r: `0x${Buffer.from(x.sig.subarray(0, 32)).toString('hex')}`, s: `0x${Buffer.from(x.sig.subarray(32, 64)).toString('hex')}`, v: x.sig[64], recipientRand: x.rand })
  await tx('redeemWinningTicket', payeeKey, broker, B, 'redeemWinningTicket', [argOf(mk(payee, 1, lane++, 55n)[0]!)])
  await tx('batchRedeemWinningTickets:2', payeeKey, broker, B, 'batchRedeemWinningTickets', [mk(payee, 2, lane++, 56n).map(argOf)])
  await tx('batchRedeemWinningTickets:4', payeeKey, broker, B, 'batchRedeemWinningTickets', [mk(payee, 4, lane++, 57n).map(argOf)])
  // what the void-tickets adversary sends: a face-0 ticket of its own (paid nothing), and one in the payee's lane
  // under its own rand, mined with explicit gas and reverted (TicketBrokerNotRecipient)
  const self0 = (() => { const t = { ...mk(payer, 1, lane++, 58n)[0]!.t, faceValue: 0n }; return { t, sig: signTicket(domain, t, payerKey), rand: 58n } })()
  await tx('redeemWinningTicket:face0', payerKey, broker, B, 'redeemWinningTicket', [argOf(self0)])
  const foreign = mk(payee, 1, lane++, 59n)[0]!
  try {
    await write(chain, chain.wallet(payerKey), { address: broker, abi: B, functionName: 'redeemWinningTicket', args: [argOf(foreign)], gas: 300_000n })
  } catch { /* reverted, mined */ }
  const last = await chain.public.getBlock({ includeTransactions: true })
  out.push({ label: 'revert:redeemWinningTicket:NotRecipient', gas: (await chain.public.getTransactionReceipt({ hash: last.transactions[0]!.hash })).gasUsed })
  try {
    await write(chain, chain.wallet(keys[4]), { address: broker, abi: B, functionName: 'withdrawCredit', gas: 300_000n })
  } catch { /* reverted, mined */ }
  const last2 = await chain.public.getBlock({ includeTransactions: true })
  out.push({ label: 'revert:withdrawCredit:NoCredit', gas: (await chain.public.getTransactionReceipt({ hash: last2.transactions[0]!.hash })).gasUsed })
  // unlock / cancel / withdraw
  await tx('unlock', payerKey, broker, B, 'unlock')
  await tx('cancelUnlock', payerKey, broker, B, 'cancelUnlock')
  await tx('unlock:again', payerKey, broker, B, 'unlock')
  await chain.dev!.mine(100)
  await tx('withdraw:1', payerKey, broker, B, 'withdraw', [[payee]])
  // claims: a payee with no reserve, a sender with no deposit
  const payee2 = privateKeyToAddress(payee2Key)
  await tx('redeemRuns:claim:1x2', payee2Key, broker, B, 'redeemRuns', [runsOf(mk(payee2, 2, lane++, 99n)), true])
  await tx('fundDeposit:pays-claims-2', payerKey, broker, B, 'fundDeposit', [10n ** 21n])
}

const evm = await createChain({ kind: 'embedded', accounts: 8 })
const model = await createModelChain({ accounts: 8, gasTable: ZERO })
// The model with the committed table (MODEL_GAS): its residual column should read 0 on every measured shape.
const tabled = await createModelChain({ accounts: 8 })
const a: Rec[] = [], b: Rec[] = [], c: Rec[] = []
await scenario(evm, a)
await scenario(model, b)
await scenario(tabled, c)
console.log('label'.padEnd(36), 'evm'.padStart(9), 'metered'.padStart(9), 'constant'.padStart(9), 'residual'.padStart(9))
for (let i = 0; i < a.length; i++) console.log(a[i]!.label.padEnd(36), String(a[i]!.gas).padStart(9), String(b[i]!.gas).padStart(9), String(a[i]!.gas - b[i]!.gas).padStart(9), String(a[i]!.gas - c[i]!.gas).padStart(9))
await evm.close()
await model.close()
await tabled.close()
