// Stryker's test command (stryker.config.mjs): runs the JavaScript that scripts/mutate-build.mjs made of a test file.
import { pathToFileURL } from 'node:url'
await import(pathToFileURL(process.argv[2].replace(/\.ts$/, '.js')).href)
