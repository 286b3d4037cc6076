/**
 * `souk pay`: the payment layer on its own — one payer pays one payee per chunk with lottery tickets, then with a
 * channel (or microcash), on the embedded chain; progress bars, then a summary checked against the chain.
 */
import type { Command } from 'commander'
import { z } from 'zod'
import { schemeEnum, schemeNames } from '../../payments/schemes.js'

const Options = z.object({
  chunks: z.coerce.number().int().min(1).max(10_000_000).default(10_000),
  price: z.string().regex(/^\d+$/, 'a whole number of token units').default('10000000000000'),
  schemes: z.string().default(schemeNames().join(',')).transform((s) => s.split(',').map((x) => x.trim()))
    .pipe(z.array(schemeEnum()).min(1)),
  json: z.boolean().default(false),
})

const fmtToken = (v: bigint) => (Number(v) / 1e18).toFixed(6) + ' SOUK'

export function register(program: Command): void {
  program
    .command('pay')
    .description('pay a payee per chunk with each payment scheme on the embedded chain, then settle and summarize')
    .option('--chunks <n>', 'chunks to pay for, per scheme', '10000')
    .option('--price <units>', 'price of one chunk in token units (1 SOUK = 1e18)', '10000000000000')
    .option('--schemes <list>', `comma-separated: ${schemeNames().join(', ')}`, schemeNames().join(','))
    .option('--json', 'print the results as JSON')
    .action(async (raw: unknown) => {
      const o = Options.parse(raw)
      const { runPaymentDemo } = await import('../../node/pay-demo.js')
      const { default: cliProgress } = await import('cli-progress')
      const ac = new AbortController()
      const onSig = () => ac.abort()
      process.once('SIGINT', onSig)
      const bars = o.json || !process.stderr.isTTY ? undefined : new cliProgress.MultiBar({ format: ' {scheme} |{bar}| {value}/{total} chunks', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic)
      const byScheme = new Map<string, ReturnType<NonNullable<typeof bars>['create']>>()
      let lastLine = 0
      try {
        const r = await runPaymentDemo({
          chunks: o.chunks, pricePerChunk: BigInt(o.price), schemes: o.schemes, signal: ac.signal,
          onProgress: (p) => {
            if (bars) {
              let b = byScheme.get(p.scheme)
              if (!b) { b = bars.create(p.total, 0, { scheme: p.scheme.padEnd(9) }); byScheme.set(p.scheme, b) }
              b.update(p.done, { scheme: p.scheme.padEnd(9) })
            } else if (!o.json && (p.done === p.total || p.done - lastLine >= p.total / 10)) {
              lastLine = p.done % p.total
              process.stderr.write(`${p.scheme}: ${p.done}/${p.total} chunks paid\n`)
            }
          },
        })
        bars?.stop()
        if (o.json) {
          process.stdout.write(JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n')
          return
        }
        const lines = [`\nSouk payments summary (embedded chain ${r.chainId}, ${o.chunks.toLocaleString('en-US')} chunks per scheme at ${o.price} units)`]
        for (const x of r.results) {
          const what = x.scheme === 'channel' ? `${x.issued.toLocaleString('en-US')} vouchers, ${x.redeemed} channel closed` : `${x.issued.toLocaleString('en-US')} tickets issued, ${x.winning} won, ${x.redeemed} redeemed`
          lines.push(
            `  ${x.scheme}`,
            `    payments             ${what}`,
            `    on-chain             ${x.transactions} settlement tx (${x.gasUsed.toLocaleString('en-US')} gas) + ${x.setupTransactions} setup tx by the payer`,
            `    payee received       ${fmtToken(x.received)} vs expected ${fmtToken(x.expected)} (${((Number(x.received) / Number(x.expected)) * 100).toFixed(1)}%)`,
            `    chain agrees         ${x.onChainDelta === x.received ? 'yes' : `NO (balance changed by ${fmtToken(x.onChainDelta)})`}`,
            `    time                 ${x.seconds.toFixed(1)} s`,
          )
          if (x.onChainDelta !== x.received) process.exitCode = 1
        }
        process.stdout.write(lines.join('\n') + '\n')
      } finally {
        bars?.stop()
        process.off('SIGINT', onSig)
      }
    })
}
