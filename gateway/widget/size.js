// The buyer page must stay small on phones: its JavaScript and CSS, gzipped, under 150 KB.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

const LIMIT = 150 * 1024
const dir = join(import.meta.dirname, 'dist', 'assets')
let total = 0
for (const f of readdirSync(dir)) if (/\.(js|css)$/.test(f)) total += gzipSync(readFileSync(join(dir, f))).length
const kb = (n) => `${(n / 1024).toFixed(1)} KB`
console.log(`buyer page bundle: ${kb(total)} gzipped (limit ${kb(LIMIT)})`)
if (total > LIMIT) {
  console.error('the buyer page is over its size budget')
  process.exit(1)
}
