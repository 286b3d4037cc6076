/**
 * `souk node --market cdn --role cache|client|publisher`: runs one peer of a market on its own, joining a testnet by
 * address. The role's configuration comes from `--opt key=value` (any market) or the CDN flags below. Events go to
 * stdout as one human line each (`src/node/event-lines.ts`), or with `--json` as JSON lines (what `souk testnet`
 * reads from its children); logs to stderr. It says where its state lives (`--data-dir`) when it starts and stops. The signing key comes from `--key <keystore|hex>` (a keystore's password
 * from `--password-file` or SOUK_KEY_PASSWORD), else the environment (`SOUK_NODE_KEY`, then `SOUK_PRIVATE_KEY`: a
 * secp256k1 key in hex), so it can stay out of process listings; `SOUK_NODE_IDENTITY` is a libp2p identity.
 */
import type { Command } from 'commander'
import { schemeNames } from '../../payments/schemes.js'
import { marketNames } from '../../services/markets.js'

const collect = (v: string, prev: string[]) => [...prev, v]

export function register(program: Command): void {
  program
    .command('node')
    .description('run one peer of a market (CDN: publisher, cache or client) that joins a testnet by address')
    .option('--market <name>', `service market: ${marketNames().join(' | ')}`, 'cdn')
    .requiredOption('--role <role>', "one of the market's roles (cdn: publisher | cache | client)")
    .requiredOption('--rpc <url>', 'JSON-RPC URL of the chain (souk testnet prints it)')
    .requiredOption('--deployment <file>', 'deployment.json written by souk testnet')
    .option('--bootstrap <multiaddr>', "the publisher's address (cache, client)")
    .option('--name <name>', 'name used in events', 'peer')
    .option('--data-dir <dir>', 'where SQLite state lives', '.souk/node')
    .option('--key <keystore|hex>', 'signing key: a keystore file (souk key new) or 0x hex (default $SOUK_NODE_KEY, then $SOUK_PRIVATE_KEY)')
    .option('--password-file <file>', "the keystore's password (default $SOUK_KEY_PASSWORD)")
    .option('--listen <multiaddr>', 'listen address', '/ip4/127.0.0.1/tcp/0')
    .option('--scheme <name>', `payment scheme: ${schemeNames().join(' | ')}`, 'lottery')
    .option('--behaviour <b>', 'honest | garbage | colluding | stingy (adversarial peers for testing)', 'honest')
    .option('--partner <peerId>', 'colluding mode: the partner peer id')
    .option('--content-bytes <n>', 'publisher: content size', String(4 << 20))
    .option('--max-caches <n>', 'publisher: caches to hire', '4')
    .option('--caches-per-request <n>', 'publisher: chunks (caches) per bundle', '4')
    .option('--rounds <n>', 'client: fetch the content this many times', '1')
    .option('--duration-ms <ms>', 'client: keep fetching until this much time passed', '0')
    .option('--expected-chunks <n>', 'publisher: chunks expected per round (sizes the payer, e.g. the microcash escrow)')
    .option('--opt <key=value>', "a field of the role's configuration (repeatable; the market's configSchema parses it)", collect, [])
    .option('--json', 'print events as JSON lines (for programs; souk testnet reads these) instead of one sentence each')
    .addHelpText('after', `
The signing key (publisher, cache; every storage and compute role): --key <keystore|hex>, else $SOUK_NODE_KEY, else
$SOUK_PRIVATE_KEY; \`souk key new --out node-key.json\` makes one. A cache or client joins the publisher at
--bootstrap (the full /ip4/…/tcp/…/p2p/… address it prints); nothing answering there after 3 tries is an error.

Examples:
  souk node --role cache --key cache.json --rpc http://127.0.0.1:8545 --deployment deployment.json --bootstrap /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…
  souk node --role client --rpc … --deployment … --bootstrap … --json | jq -c 'select(.kind == "content")'`)
    .action(async (o: Record<string, string> & { opt: string[]; json?: boolean }) => {
      const { runPeer } = await import('../../node/peer.js')
      const { resolveSigningKey } = await import('../../chain/keystore.js')
      const signing = resolveSigningKey({ key: o.key, passwordFile: o.passwordFile, envVars: ['SOUK_NODE_KEY', 'SOUK_PRIVATE_KEY'] })
      const { streamLogger } = await import('../../core/logger.js')
      const { safeJson } = await import('../../core/errors.js')
      const { eventLine } = await import('../../node/event-lines.js')
      const { prepareOutputDir } = await import('../output.js')
      // Made (and checked) before anything starts: an unusable --data-dir is a clear error, never a hang.
      const dataDir = prepareOutputDir(o.dataDir, '--data-dir')
      const say = (line: string) => (o.json ? process.stderr : process.stdout).write(line + '\n')
      const me = o.name === 'peer' ? o.role : o.name
      // Said with the first event (the node is up): a node refused at the start (no key) has no state to speak of.
      let started = false
      const report = (e: Record<string, unknown> & { kind: string }) => {
        if (!started) { started = true; say(`${me}: state in ${dataDir} (start it again with --data-dir ${o.dataDir} to resume)`) }
        process.stdout.write((o.json ? safeJson(e) : eventLine(e)) + '\n')
      }
      const ac = new AbortController()
      const stop = () => ac.abort()
      process.once('SIGTERM', stop)
      process.once('SIGINT', stop)
      const logger = streamLogger({ write: (l) => process.stderr.write(l), level: (process.env.SOUK_LOG_LEVEL as 'warn') ?? 'warn' })
      // The CDN flags, then --opt pairs, as the role's configuration (undefined flags left to the schema's defaults).
      const flags = { behaviour: o.behaviour, partner: o.partner, contentBytes: o.contentBytes, maxCaches: o.maxCaches, cachesPerRequest: o.cachesPerRequest, rounds: o.rounds, durationMs: o.durationMs, expectedChunks: o.expectedChunks }
      const options: Record<string, unknown> = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined))
      for (const kv of o.opt) { const i = kv.indexOf('='); if (i > 0) options[kv.slice(0, i)] = kv.slice(i + 1) }
      await runPeer({
        market: o.market as never, role: o.role, name: o.name, rpcUrl: o.rpc, deploymentPath: o.deployment, bootstrap: o.bootstrap, dataDir: o.dataDir,
        key: signing?.key, identity: process.env.SOUK_NODE_IDENTITY, listen: o.listen, scheme: o.scheme as never, options,
      }, { report, logger, signal: ac.signal })
      if (!o.json) say(`${me}: state kept in ${dataDir}`)
      process.exit(0)
    })
}
