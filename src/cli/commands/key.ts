/**
 * `souk key new|import|address`: signing keys in Web3 v3 keystore files (scrypt + AES-128-CTR, what geth, Foundry's
 * `cast wallet` and MetaMask export), for `--key <keystore>` on every command that sends transactions. The password
 * comes from `--password-file` or SOUK_KEY_PASSWORD and is never printed; neither is the key.
 */
import type { Command } from 'commander'
import { z } from 'zod'

const PasswordOptions = z.object({ passwordFile: z.string().optional(), out: z.string().optional(), force: z.boolean().default(false), json: z.boolean().default(false) })

export function register(program: Command): void {
  const key = program.command('key').description('create, import and inspect signing keys (Web3 v3 keystore files)')
  key
    .command('new')
    .description('create a key and write it encrypted to a keystore file (prints its address)')
    .option('--out <file>', 'keystore file to write (default: print the keystore JSON on stdout)')
    .option('--password-file <file>', 'read the password from this file (default: $SOUK_KEY_PASSWORD)')
    .option('--force', 'overwrite --out if it exists')
    .option('--json', 'print {address, path} as JSON')
    .action(async (raw: unknown) => {
      const o = PasswordOptions.parse(raw)
      const { generatePrivateKey } = await import('viem/accounts')
      await writeKeystore(generatePrivateKey(), o)
    })
  key
    .command('import <hex|file>')
    .description('encrypt an existing key (0x + 64 hex digits, a file holding one, or - for stdin) into a keystore file')
    .option('--out <file>', 'keystore file to write (default: print the keystore JSON on stdout)')
    .option('--password-file <file>', 'read the password from this file (default: $SOUK_KEY_PASSWORD)')
    .option('--force', 'overwrite --out if it exists')
    .option('--json', 'print {address, path} as JSON')
    .action(async (source: string, raw: unknown) => {
      const o = PasswordOptions.parse(raw)
      await writeKeystore(await readRawKey(source), o)
    })
  key
    .command('address <keystore>')
    .description("print a keystore's address (with a password, check that it decrypts to that address)")
    .option('--password-file <file>', 'also decrypt it with the password in this file (or $SOUK_KEY_PASSWORD) and check the address')
    .option('--json', 'print {address} as JSON')
    .action(async (path: string, raw: unknown) => {
      const o = PasswordOptions.parse(raw)
      const { readFileSync } = await import('node:fs')
      const { KeystoreError, loadSigningKey, readPasswordFile, KEY_PASSWORD_ENV } = await import('../../chain/keystore.js')
      const { privateKeyToAddress } = await import('viem/accounts')
      let ks: { version?: number; address?: string }
      try {
        ks = JSON.parse(readFileSync(path, 'utf8'))
      } catch (e) {
        throw new KeystoreError(`Cannot read keystore ${path}`, { code: 'KEYSTORE_READ', cause: e, hints: [`Check the path; create one with \`souk key new --out ${path}\`.`] })
      }
      if (ks?.version !== 3 || typeof ks.address !== 'string' || !/^(0x)?[0-9a-fA-F]{40}$/.test(ks.address)) {
        throw new KeystoreError(`${path} is not a Web3 v3 keystore with an address`, { code: 'KEYSTORE_FORMAT', hints: ['Souk reads Web3 Secret Storage v3 files (souk key new, geth, cast wallet).'] })
      }
      let address = `0x${ks.address.replace(/^0x/, '').toLowerCase()}`
      const password = o.passwordFile !== undefined ? readPasswordFile(o.passwordFile) : process.env[KEY_PASSWORD_ENV]
      if (password !== undefined) {
        const real = privateKeyToAddress(loadSigningKey({ keystorePath: path, password })).toLowerCase()
        if (real !== address) throw new KeystoreError(`${path} says ${address} but holds the key of ${real}`, { code: 'KEYSTORE_ADDRESS', hints: ['The file was edited: use the address the key gives.'] })
        address = real
      }
      process.stdout.write(o.json ? JSON.stringify({ address, checked: password !== undefined }) + '\n' : address + '\n')
    })
}

/** The password for a new keystore: --password-file, else SOUK_KEY_PASSWORD; an empty one is refused. */
async function newPassword(passwordFile: string | undefined): Promise<string> {
  const { KeystoreError, readPasswordFile, KEY_PASSWORD_ENV } = await import('../../chain/keystore.js')
  const pw = passwordFile !== undefined ? readPasswordFile(passwordFile) : process.env[KEY_PASSWORD_ENV]
  if (pw === undefined) throw new KeystoreError('No password for the keystore', { code: 'KEYSTORE_NO_PASSWORD', hints: [`Pass --password-file <file> or set ${KEY_PASSWORD_ENV}.`] })
  if (pw.length === 0) throw new KeystoreError('The keystore password is empty', { code: 'KEYSTORE_NO_PASSWORD', hints: ['Anyone with the file could use the key: choose a password.'] })
  return pw
}

async function writeKeystore(privateKey: `0x${string}`, o: z.output<typeof PasswordOptions>): Promise<void> {
  const { encryptKeystore, KeystoreError } = await import('../../chain/keystore.js')
  const { OutputPathError, writeOutputFile } = await import('../output.js')
  const password = await newPassword(o.passwordFile)
  const ks = encryptKeystore(privateKey, password)
  const address = `0x${ks.address}`
  if (o.out) {
    try {
      // 0600, and never over an existing file unless --force: a keystore may be the only copy of a key.
      writeOutputFile(o.out, JSON.stringify(ks, null, 2) + '\n', { flag: '--out', userNamed: true, force: o.force, mode: 0o600 })
    } catch (e) {
      if (!(e instanceof OutputPathError)) throw e
      const exists = e.code === 'OUTPUT_EXISTS'
      throw new KeystoreError(exists ? `${o.out} exists` : e.shortMessage, { code: 'KEYSTORE_WRITE', cause: e.cause, hints: exists ? ['Choose another --out, or pass --force to overwrite it (the key in it is then gone).'] : e.hints })
    }
    process.stdout.write(o.json ? JSON.stringify({ address, path: o.out }) + '\n' : `${address}\n`)
    if (!o.json) process.stderr.write(`keystore written to ${o.out}; use it with --key ${o.out}\n`)
  } else {
    process.stdout.write(JSON.stringify(ks) + '\n')
    process.stderr.write(`address ${address}\n`)
  }
}

/** A raw key from the command line, a file holding one, or stdin (`-`). */
async function readRawKey(source: string): Promise<`0x${string}`> {
  const { KeystoreError } = await import('../../chain/keystore.js')
  const { readFileSync, existsSync } = await import('node:fs')
  const norm = (s: string) => { const t = s.trim(); return (t.startsWith('0x') ? t : `0x${t}`) as `0x${string}` }
  let text = source
  if (source === '-') text = readFileSync(0, 'utf8')
  else if (!/^(0x)?[0-9a-fA-F]{64}$/.test(source.trim())) {
    if (!existsSync(source)) throw new KeystoreError(`${source} is neither a 32-byte hex key nor a file`, { code: 'KEY_FORMAT', hints: ['Pass 0x followed by 64 hex digits, a file holding that, or - to read it from stdin.'] })
    text = readFileSync(source, 'utf8')
  }
  const k = norm(text)
  if (!/^0x[0-9a-fA-F]{64}$/.test(k)) throw new KeystoreError('Not a 32-byte hex private key', { code: 'KEY_FORMAT', hints: ['It must be 64 hex digits, with or without 0x.'] })
  // secp256k1 accepts 1 ≤ k < n: viem throws on 0 and on n or above.
  const { privateKeyToAddress } = await import('viem/accounts')
  try { privateKeyToAddress(k) } catch (e) { throw new KeystoreError('Not a valid secp256k1 private key', { code: 'KEY_FORMAT', cause: e }) }
  return k
}
