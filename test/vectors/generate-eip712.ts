/**
 * Generates test/vectors/eip712.json: EIP-712 digests of TicketBroker tickets and PaymentChannel vouchers,
 * signatures by a fixed dev key, and lottery draws, for the broker and channel as `deploySouk` places them on a
 * fresh embedded chain (deployer = dev key 0 of seed "souk": token at nonce 0, broker at 1, channel at 2).
 * test/contracts/vectors.test.ts checks that both the TypeScript helpers and the contracts agree with the file.
 *
 * Usage: node --import tsx test/vectors/generate-eip712.ts
 */
import { writeFileSync } from 'node:fs'
import { getContractAddress, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { devKeys, DEFAULT_CHAIN_ID } from '../../src/chain/embedded.js'
import { randHash, signTicket, signVoucher, ticketDigest, ticketDraw, voucherDigest, MAX_UINT256, type Ticket } from '../contracts/helpers.js'

export interface Eip712Vectors {
  description: string
  chainId: number
  deployer: Address
  ticketBroker: Address
  paymentChannel: Address
  signerKeyIndex: number
  signer: Address
  tickets: { ticket: Record<keyof Ticket, string>; recipientRand: string; digest: Hex; r: Hex; s: Hex; v: number; draw: string; wins: boolean }[]
  vouchers: { channelId: Hex; cumulativeAmount: string; digest: Hex; signature: Hex }[]
}

export async function buildVectors(): Promise<Eip712Vectors> {
  const keys = devKeys(20)
  const chainId = DEFAULT_CHAIN_ID
  const deployer = privateKeyToAccount(keys[0]!).address
  const ticketBroker = getContractAddress({ from: deployer, nonce: 1n })
  const paymentChannel = getContractAddress({ from: deployer, nonce: 2n })
  const signerKey = keys[1]!
  const signer = privateKeyToAccount(signerKey).address
  const recipient = privateKeyToAccount(keys[2]!).address
  const cases: { face: bigint; winProb: bigint; nonce: bigint; rand: bigint; exp: bigint }[] = [
    { face: 1n, winProb: MAX_UINT256, nonce: 0n, rand: 1n, exp: 100n },
    { face: 10n ** 18n, winProb: 2n ** 255n, nonce: 7n, rand: 0xdeadbeefn, exp: 123456n },
    { face: 0n, winProb: 0n, nonce: 2n ** 64n, rand: 2n ** 200n + 5n, exp: 0n },
    { face: 12345678901234567890n, winProb: MAX_UINT256 / 100n, nonce: 42n, rand: 99n, exp: 2n ** 63n },
  ]
  const tickets = []
  for (const c of cases) {
    const t: Ticket = { recipient, sender: signer, faceValue: c.face, winProb: c.winProb, senderNonce: c.nonce, recipientRandHash: randHash(c.rand), expirationBlock: c.exp }
    const st = await signTicket(chainId, ticketBroker, signerKey, t, c.rand)
    const draw = ticketDraw(st.r, st.s, st.v, c.rand)
    tickets.push({
      ticket: { recipient: t.recipient, sender: t.sender, faceValue: String(t.faceValue), winProb: String(t.winProb), senderNonce: String(t.senderNonce), recipientRandHash: t.recipientRandHash, expirationBlock: String(t.expirationBlock) },
      recipientRand: String(c.rand),
      digest: ticketDigest(chainId, ticketBroker, t),
      r: st.r, s: st.s, v: st.v,
      draw: String(draw),
      wins: draw < c.winProb,
    })
  }
  const vouchers = []
  for (const [id, amount] of [[`0x${'11'.repeat(32)}`, 0n], [`0x${'ab'.repeat(32)}`, 1n], [`0x${'ab'.repeat(32)}`, 10n ** 24n]] as [Hex, bigint][]) {
    vouchers.push({ channelId: id, cumulativeAmount: String(amount), digest: voucherDigest(chainId, paymentChannel, id, amount), signature: await signVoucher(chainId, paymentChannel, signerKey, id, amount) })
  }
  return {
    description: 'EIP-712 digests, signatures and lottery draws shared by the TypeScript helpers and the Souk contracts. Regenerate with: node --import tsx test/vectors/generate-eip712.ts',
    chainId, deployer, ticketBroker, paymentChannel, signerKeyIndex: 1, signer, tickets, vouchers,
  }
}

export const VECTORS_PATH = new URL('./eip712.json', import.meta.url)

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  writeFileSync(VECTORS_PATH, `${JSON.stringify(await buildVectors(), null, 2)}\n`)
  console.log(`wrote ${VECTORS_PATH.pathname}`)
}
