/**
 * `souk events --rpc <url> --deployment <file>`: every event of a deployment's contracts, decoded with their ABIs,
 * in chain order — what the testnet's summary is checked against, for a person to read or `jq` to filter.
 */
import type { Command } from 'commander'
import { z } from 'zod'

const Options = z.object({
  rpc: z.string().url({ message: '--rpc must be a URL, e.g. http://127.0.0.1:8545 (souk testnet prints it)' }),
  deployment: z.string(),
  fromBlock: z.coerce.bigint().optional(),
  toBlock: z.coerce.bigint().optional(),
  contract: z.string().optional(),
  event: z.string().optional(),
  json: z.boolean().default(false),
})

export function register(program: Command): void {
  program
    .command('events')
    .description("decode the events of a deployment's contracts (souk testnet prints the RPC URL and the deployment file)")
    .requiredOption('--rpc <url>', 'JSON-RPC URL of the chain')
    .requiredOption('--deployment <file>', 'deployment.json written by souk testnet')
    .option('--from-block <n>', 'first block (default 0)')
    .option('--to-block <n>', 'last block (default latest)')
    .option('--contract <name>', 'only this contract (TicketBroker, SoukToken, StorageMarket, …)')
    .option('--event <name>', 'only this event (e.g. TicketsRedeemed)')
    .option('--json', 'a JSON array on stdout (numbers as decimal strings)')
    .addHelpText('after', `
Examples:
  souk events --rpc http://127.0.0.1:8545 --deployment /tmp/souk-testnet-x/deployment.json
  souk events --rpc … --deployment … --event TicketsRedeemed --json | jq '.[].args.fromReserve'`)
    .action(async (raw: unknown) => {
      const o = Options.parse(raw)
      const { readFileSync } = await import('node:fs')
      const { SoukError } = await import('../../core/errors.js')
      let deployment: Record<string, unknown>
      try {
        deployment = JSON.parse(readFileSync(o.deployment, 'utf8')) as Record<string, unknown>
      } catch (e) {
        throw new SoukError(`Cannot read the deployment ${o.deployment}: ${(e as Error).message.split('\n')[0]}`, { hints: ['Give the deployment.json a testnet wrote (souk testnet prints its data directory).'] })
      }
      const { createChain } = await import('../../chain/chain.js')
      const { deploymentEvents, deploymentContracts, formatEvent } = await import('../../node/events.js')
      if (deploymentContracts(deployment).size === 0) throw new SoukError(`${o.deployment} names no Souk contract`, { hints: ['Give the deployment.json a testnet wrote.'] })
      const chain = await createChain({ kind: 'rpc', url: o.rpc })
      try {
        const events = await deploymentEvents(chain, deployment, o)
        if (o.json) process.stdout.write(JSON.stringify(events, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n')
        else {
          for (const e of events) process.stdout.write(formatEvent(e) + '\n')
          process.stderr.write(`${events.length} events\n`)
        }
      } finally {
        await chain.close()
      }
    })
}
