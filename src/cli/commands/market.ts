/**
 * `souk market`: a market of N servers and M buyers on the memory transport, round by round on the real market parts
 * (signed offers and asks, the order book, negotiation, demand-responsive prices): price convergence, time to a deal
 * and who got hired, in the terminal and as an HTML report with plots (docs/market.md).
 */
import type { Command } from 'commander'
import { z } from 'zod'

const Options = z.object({
  servers: z.coerce.number().int().min(1).max(2000),
  buyers: z.coerce.number().int().min(1).max(20_000),
  rounds: z.coerce.number().int().min(1).max(10_000),
  loss: z.coerce.number().min(0).lt(1),
  latency: z.coerce.number().min(0).max(10_000),
  capacity: z.coerce.number().int().min(1).max(1000),
  demand: z.coerce.number().int().min(1).max(100),
  seed: z.string().min(1),
  json: z.boolean().default(false),
  out: z.string().min(1),
  html: z.boolean().default(true),
})

export function register(program: Command): void {
  program
    .command('market')
    .description('run a market of servers and buyers on the memory transport: price convergence, time to deal, who got hired')
    .option('--servers <n>', 'servers selling (each with a random cost and capacity)', '20')
    .option('--buyers <n>', 'buyers (each with a random valuation and demand)', '60')
    .option('--rounds <n>', 'rounds: each posts offers and asks, clears the book, negotiates, moves prices', '30')
    .option('--loss <fraction>', 'share of messages the network drops', '0.01')
    .option('--latency <ms>', 'one-way latency of every message', '10')
    .option('--capacity <units>', 'most units a server sells a round (drawn in [1, n])', '8')
    .option('--demand <units>', 'most units a buyer wants a round (drawn in [1, n])', '2')
    .option('--seed <text>', 'seed of the costs, valuations, keys and draws (the same seed, the same market)', 'souk-market')
    .option('--json', 'print the result as JSON (no progress bar)')
    .option('-o, --out <dir>', 'directory for the HTML report', 'reports')
    .option('--no-html', 'do not write the HTML report')
    .addHelpText('after', `
Each round every server posts a signed offer at its price, every buyer a signed ask at its valuation; the order book
clears asks against offers; buyers negotiate (alternating offers) with the servers they matched and sign deals;
servers raise their price when they sold above 90 % of capacity and lower it toward their cost otherwise.

Examples:
  souk market                                  20 servers, 60 buyers, 30 rounds, 1 % loss
  souk market --servers 50 --buyers 200 --rounds 60 --json > market.json`)
    .action(async (raw: Record<string, unknown>) => {
      const parsed = Options.safeParse(raw)
      const { ValidationError } = await import('../../core/errors.js')
      if (!parsed.success) {
        const i = parsed.error.issues[0]
        throw new ValidationError(`Invalid option --${String(i.path[0])}: ${i.message}`, { hints: ['run souk market --help for the ranges'] })
      }
      const o = parsed.data
      // The report directory is checked before the run, not after it.
      const { prepareOutputDir, writeOutputFile } = await import('../output.js')
      if (o.html) prepareOutputDir(o.out, '-o')
      const { runMarketScenario } = await import('../../market/scenario.js')
      const { renderMarketSummary, renderMarketHtml } = await import('../../market/report.js')
      const { createMemoryNetwork } = await import('../../net/index.js')
      const { systemClock } = await import('../../core/clock.js')
      const { silentLogger } = await import('../../core/logger.js')
      const { seededRng } = await import('../../crypto/rng.js')
      const clock = systemClock()
      const net = createMemoryNetwork({ latencyMs: o.latency, lossRate: o.loss, clock })
      const tty = !o.json && process.stderr.isTTY
      const bar = (done: number, total: number, text: string) => {
        const w = 28, f = Math.round((done / total) * w)
        process.stderr.write(`\r  round ${String(done).padStart(String(total).length)}/${total} ▕${'█'.repeat(f)}${'░'.repeat(w - f)}▏ ${text}\x1b[K`)
      }
      const r = await runMarketScenario({
        servers: o.servers, buyers: o.buyers, rounds: o.rounds, capacity: o.capacity, demand: o.demand,
        newTransport: (id) => net.createTransport({ peerId: id }), clock, rng: seededRng(o.seed), logger: silentLogger(),
        onRound: (x) => {
          const text = `median deal price ${x.medianPrice}, ${x.deals} deals, ${x.medianTimeToDealMs} ms to deal`
          if (tty) bar(x.round, o.rounds, text)
          else if (!o.json) process.stderr.write(`  round ${x.round}/${o.rounds}: ${text}\n`)
        },
      })
      if (tty) process.stderr.write('\r\x1b[K')
      let file: string | undefined
      if (o.html) {
        const { join } = await import('node:path')
        const { readPlotLibraries } = await import('../../viability/libs.js')
        file = writeOutputFile(join(o.out, 'market.html'), renderMarketHtml(r, readPlotLibraries()), { flag: '-o' })
      }
      if (o.json) process.stdout.write(JSON.stringify({ ...r, html: file ?? null }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n')
      else {
        process.stdout.write(renderMarketSummary(r))
        if (file) process.stdout.write(`wrote ${file}\n`)
      }
    })
}
