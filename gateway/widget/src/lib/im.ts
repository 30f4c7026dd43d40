// The buyer's side of the realtime socket (`/im/ws`, docs/protocol.md): log in with a UserSig,
// send with client ids (re-sent after a reconnect, which the server answers as duplicates),
// and resume from the last `seq` seen, so a dropped connection loses and repeats nothing.

export interface Login {
  sdkappid: number
  identifier: string
  usersig: string
  service_account: string
  expires_at: number
}

export interface ImMessage {
  chat_id: number
  seq: number
  from: string
  to: string
  msg_time: number
  flag_bits: number
  body: unknown[]
}

/** A message sent but not yet acknowledged. */
export interface Pending {
  id: string
  body: unknown[]
  failed?: string
}

export interface Handlers {
  onMessage(m: ImMessage): void
  onRecalled(seq: number): void
  onTyping(): void
  onAck(id: string, seq: number): void
  onRefused(id: string, code: number, message: string): void
  onConnected(up: boolean): void
  /** The login cannot continue (kicked, expired, refused): the page must be reopened. */
  onEnded(code: number, message: string): void
  /** The first login of this page, after its history arrived. */
  onFirstLogin(): void
}

/** How many earlier messages a fresh page shows. */
export const HISTORY = 50

export class BuyerSocket {
  private ws: WebSocket | null = null
  private chatId: number | null = null
  private lastSeq = 0
  private outbox = new Map<string, unknown[]>()
  private retry = 0
  private stopped = false
  private loggedInOnce = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private ping: ReturnType<typeof setInterval> | undefined
  private next = 0

  constructor(
    private login: Login,
    private handlers: Handlers,
    private url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/im/ws`,
  ) {}

  start() {
    this.stopped = false
    this.open()
  }

  stop() {
    this.stopped = true
    clearTimeout(this.timer)
    clearInterval(this.ping)
    this.ws?.close(1000)
  }

  /** Queues `body` for the service account; answers the client id it is known by. */
  send(body: unknown[]): string {
    const id = `c-${Date.now().toString(36)}-${(this.next++).toString(36)}`
    this.outbox.set(id, body)
    this.write({ type: 'send', id, to: this.login.service_account, body })
    return id
  }

  typing() {
    this.write({ type: 'typing', to: this.login.service_account })
  }

  read(seq: number) {
    if (this.chatId !== null) this.write({ type: 'read', chat_id: this.chatId, seq })
  }

  private write(frame: unknown) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame))
  }

  private open() {
    const ws = new WebSocket(this.url)
    this.ws = ws
    ws.onopen = () =>
      ws.send(JSON.stringify({ type: 'auth', sdkappid: this.login.sdkappid, identifier: this.login.identifier, usersig: this.login.usersig }))
    ws.onmessage = (e) => {
      let f: Record<string, unknown>
      try {
        f = JSON.parse(e.data)
      } catch {
        return
      }
      this.frame(ws, f)
    }
    ws.onclose = (e) => {
      clearInterval(this.ping)
      if (this.ws !== ws || this.stopped) return
      this.handlers.onConnected(false)
      if (e.code === 4001 || e.code === 4002) {
        this.stopped = true
        this.handlers.onEnded(e.code, e.reason)
        return
      }
      const wait = Math.min(5_000, 500 * 2 ** this.retry)
      this.retry += 1
      this.timer = setTimeout(() => this.open(), wait)
    }
  }

  private frame(ws: WebSocket, f: Record<string, unknown>) {
    switch (f.type) {
      case 'auth_ok': {
        this.retry = 0
        const chats = (f.chats as { chat_id: number; peer: string; last_seq: number }[]) ?? []
        const chat = chats.find((c) => c.peer === this.login.service_account)
        if (chat) {
          this.chatId = chat.chat_id
          // A fresh page shows the recent history; a reconnect resumes after what it has.
          const after = this.lastSeq > 0 ? this.lastSeq : Math.max(0, chat.last_seq - HISTORY)
          if (chat.last_seq > after) ws.send(JSON.stringify({ type: 'sync', chat_id: chat.chat_id, after_seq: after }))
        }
        for (const [id, body] of this.outbox) ws.send(JSON.stringify({ type: 'send', id, to: this.login.service_account, body }))
        clearInterval(this.ping)
        this.ping = setInterval(() => this.write({ type: 'ping' }), 25_000)
        this.handlers.onConnected(true)
        if (!this.loggedInOnce) {
          this.loggedInOnce = true
          this.handlers.onFirstLogin()
        }
        return
      }
      case 'msg': {
        const m = f as unknown as ImMessage
        const peer = m.from === this.login.identifier ? m.to : m.from
        if (peer !== this.login.service_account) return
        this.chatId ??= m.chat_id
        if (m.seq > this.lastSeq) this.lastSeq = m.seq
        this.handlers.onMessage(m)
        return
      }
      case 'ack': {
        const id = String(f.id)
        this.outbox.delete(id)
        this.chatId ??= Number(f.chat_id)
        this.handlers.onAck(id, Number(f.seq))
        return
      }
      case 'recalled':
        this.handlers.onRecalled(Number(f.seq))
        return
      case 'typing':
        if (f.from === this.login.service_account) this.handlers.onTyping()
        return
      case 'error': {
        const code = Number(f.code)
        const message = String(f.message ?? '')
        if (typeof f.id === 'string') {
          this.outbox.delete(f.id)
          this.handlers.onRefused(f.id, code, message)
        } else if (!this.loggedInOnce || code === 70001) {
          this.stopped = true
          this.handlers.onEnded(code, message)
        }
        return
      }
    }
  }
}

/** Exchanges a signed link (`/chat/{tenant}?buyer=&expires=&sig=`) for a UserSig. */
export async function exchangeLink(tenant: string, params: URLSearchParams): Promise<Login> {
  const body = {
    tenant,
    buyer: params.get('buyer') ?? '',
    expires: Number(params.get('expires') ?? 0),
    sig: params.get('sig') ?? '',
    nick: params.get('nick') ?? undefined,
  }
  const r = await fetch('/im/link', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = await r.json().catch(() => ({}))
  if (!r.ok) throw new Error(json.message ?? r.statusText)
  return json as Login
}

/** Uploads an image or a voice recording; answers the element to send. */
export async function upload(login: Login, file: Blob): Promise<unknown[]> {
  const q = new URLSearchParams({ sdkappid: String(login.sdkappid), identifier: login.identifier, usersig: login.usersig })
  const form = new FormData()
  form.append('file', file)
  const r = await fetch(`/im/media?${q}`, { method: 'POST', body: form })
  const json = await r.json().catch(() => ({}))
  if (json.ActionStatus !== 'OK') throw new Error(json.ErrorInfo ?? r.statusText)
  return json.MsgBody
}
