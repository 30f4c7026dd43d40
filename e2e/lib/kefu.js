// Runs a real Kefu (the debug binary, embedded default, demo tenant) for the browser tests, and
// talks to it as the tenant's back end and as a buyer's IM client would.
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium } from 'playwright-core'

export const ROOT = resolve(import.meta.dirname, '..', '..')
export const PASSWORD = 'Demo#e2e2026'
const BIN = process.env.E2E_KEFU_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug', 'kefu')

async function freePort() {
  return await new Promise((ok, fail) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => ok(port))
    })
    s.on('error', fail)
  })
}

export class Kefu {
  /** Starts Kefu; `env` adds settings (`KEFU_…`). */
  static async start(env = {}) {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing; build it with cargo build -p kefu`)
    const k = new Kefu()
    k.extraEnv = env
    k.dir = mkdtempSync(join(tmpdir(), 'kefu-e2e-'))
    k.port = await freePort()
    k.url = `http://127.0.0.1:${k.port}`
    await k.launch()
    return k
  }

  async launch() {
    this.log = ''
    this.proc = spawn(BIN, ['serve', '--demo'], {
      env: {
        ...process.env,
        KEFU_DATA_DIR: this.dir,
        KEFU_LISTEN: `127.0.0.1:${this.port}`,
        KEFU_PUBLIC_URL: this.url,
        KEFU_METRICS_LISTEN: 'off',
        KEFU_DEMO_PASSWORD: PASSWORD,
        KEFU_OPERATOR_PASSWORD: PASSWORD,
        KEFU_LOG: 'warn',
        ...this.extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.proc.stdout.on('data', (d) => (this.log += d))
    this.proc.stderr.on('data', (d) => (this.log += d))
    for (let i = 0; i < 300; i++) {
      if (this.proc.exitCode !== null) throw new Error(`kefu exited: ${this.log}`)
      try {
        if ((await fetch(`${this.url}/readyz`)).ok) return
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`kefu did not become ready: ${this.log}`)
  }

  /** Stops the server as a crash would (the database stays). */
  async kill() {
    const exited = new Promise((r) => this.proc.once('exit', r))
    this.proc.kill('SIGKILL')
    await exited
  }

  async stop() {
    if (this.proc?.exitCode === null) await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** Logs in to the tenant API (the demo tenant, or the platform with `tenant` null). */
  async login(username, password = PASSWORD, tenant = 'demo') {
    const r = await fetch(`${this.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tenant ? { tenant, username, password } : { username, password }),
    })
    const body = await r.json()
    if (!r.ok) throw new Error(`login ${username}: ${JSON.stringify(body)}`)
    return new Api(this.url, body.token, body.account)
  }

  /** The demo tenant's IM app, signed in as its admin identifier, for the `/v4` REST API. */
  async im(admin) {
    const app = await admin.get('/api/v1/im-app')
    const sig = execFileSync(BIN, ['usersig', '--sdkappid', String(app.sdk_app_id), '--identifier', 'administrator'], {
      env: { ...process.env, KEFU_USERSIG_KEY: app.secret_key },
    })
      .toString()
      .trim()
    return new Im(this.url, app.sdk_app_id, sig, app.service_accounts[0].identifier)
  }
}

export class Api {
  constructor(url, token, account) {
    Object.assign(this, { url, token, account })
  }
  async req(method, path, body) {
    const r = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await r.text()
    const json = text ? JSON.parse(text) : null
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`)
    return json
  }
  get(path) {
    return this.req('GET', path)
  }
  post(path, body = {}) {
    return this.req('POST', path, body)
  }
  put(path, body) {
    return this.req('PUT', path, body)
  }
  patch(path, body) {
    return this.req('PATCH', path, body)
  }
}

let random = 1
export class Im {
  constructor(url, sdkAppId, sig, service) {
    Object.assign(this, { url, sdkAppId, sig, service })
  }
  async call(command, body) {
    const q = `sdkappid=${this.sdkAppId}&identifier=administrator&usersig=${encodeURIComponent(this.sig)}&random=${random++}&contenttype=json`
    const r = await fetch(`${this.url}/v4/${command}?${q}`, { method: 'POST', body: JSON.stringify(body) })
    const json = await r.json()
    if (json.ErrorCode !== 0) throw new Error(`${command}: ${JSON.stringify(json)}`)
    return json
  }
  importBuyer(id, nick) {
    return this.call('im_open_login_svc/account_import', { UserID: id, Nick: nick })
  }
  /** The buyer writes to the customer-service account. */
  say(buyer, text) {
    return this.call('openim/sendmsg', {
      SyncOtherMachine: 2,
      From_Account: buyer,
      To_Account: this.service,
      MsgRandom: random++,
      MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: text } }],
    })
  }
  /** What the buyer's chat with the service account holds, oldest first. */
  async chat(buyer) {
    const r = await this.call('openim/admin_getroammsg', {
      Operator_Account: buyer,
      Peer_Account: this.service,
      MaxCnt: 100,
      MinTime: 0,
      MaxTime: Math.floor(Date.now() / 1000) + 60,
    })
    return [...r.MsgList].sort((a, b) => a.MsgSeq - b.MsgSeq)
  }
}

export async function browser(extra = []) {
  return await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', ...extra],
  })
}

/** Logs an agent into the console in a new browser context; answers the page. */
export async function agentPage(chromium, kefu, username, password = PASSWORD) {
  const context = await chromium.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' })
  await context.grantPermissions(['notifications'], { origin: kefu.url })
  const page = await context.newPage()
  page.on('dialog', (d) => void d.accept())
  await page.goto(`${kefu.url}/agent/login`)
  await page.fill('input[name=tenant]', 'demo')
  await page.fill('input[name=username]', username)
  await page.fill('input[name=password]', password)
  await page.click('[data-test=login]')
  await page.locator('[data-test=status]').waitFor()
  return page
}

/** Waits until `check` returns a truthy value (polling), or fails with `what`. */
export async function eventually(what, check, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      const v = await check()
      if (v) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** A tiny valid PNG (1×1), to send as an image. */
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
)
