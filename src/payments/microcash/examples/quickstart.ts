/**
 * Runnable quick start (docs/microcash.md): one sponsor pays one cache with microcash on the embedded chain.
 * Run: node --import tsx src/payments/microcash/examples/quickstart.ts
 */
import { privateKeyToAddress } from 'viem/accounts'
import { createChain } from '../../../chain/index.js'
import { createPayee, createPayer, deploySouk, fundPayer } from '../../index.js'
import { systemClock } from '../../../core/clock.js'
import { silentLogger } from '../../../core/logger.js'
import { pooledSystemRng } from '../../../crypto/rng.js'

const chain = await createChain({ kind: 'embedded' })
const d = await deploySouk(chain, chain.devKeys[0]) // the token, then every scheme: d.contracts.microcash.concurrentLottery
// The components a role runs on (a program's entry point creates the system ones; tests pass seeded ones).
const components = { clock: systemClock(), rng: pooledSystemRng, logger: silentLogger() }
const sponsor = { chain, deployment: d, key: chain.devKeys[1], ...components }
const cache = { chain, deployment: d, key: chain.devKeys[2], ...components } // add storePath: 'cache.db' to persist
// deposit = escrow balance (16 winners x 100 rounds x V), Σ reserves = penalty deposit.
await fundPayer('microcash', sponsor, { deposit: 16n * 100n * 10n ** 15n, reserves: [{ payee: privateKeyToAddress(cache.key), amount: 10n ** 17n }] })
const payee = await createPayee('microcash', cache)
const payer = await createPayer('microcash', sponsor)
const price = (10n ** 15n * 16n) / 65536n // one ticket's expected value with the default schedule
const session = await payer.open(await payee.terms(payer.address, price))
for (let i = 0; i < 1000; i++) await payee.receive(await session.pay(price))
await chain.dev!.mine(20) // past the round's draw
const report = await payee.settle({ force: true })
console.log({ paid: session.paid(), credited: payee.stats().credited, redeemedWinners: report.settled, received: report.received })
await chain.close()
