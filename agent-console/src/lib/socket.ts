// The console's realtime socket (`/im/ws`, docs/protocol.md): conversation changes and the
// buyer's typing. It reconnects by itself; after each (re)login the desk reloads what it shows,
// so nothing that happened while it was down is missed.

export type Frame =
  | { type: 'auth_ok' }
  | { type: 'conversation'; conversation_id: number; change: string }
  | { type: 'typing'; from: string }
  | { type: 'error'; code: number; message: string }
  | { type: 'pong' }

/** Why the server closed for good: the login was kicked, replaced, or has ended. */
export type Ended = 'kicked' | 'replaced' | 'expired'

export interface Handlers {
  onFrame(frame: Frame): void
  /** Logged in (again): reload everything shown. */
  onReady(): void
  onDown(): void
  onEnded(reason: Ended): void
}

const CLOSE_ENDED: Record<number, Ended> = { 4001: 'kicked', 4002: 'expired', 4003: 'replaced' }

export class ConsoleSocket {
  private ws: WebSocket | null = null
  private stopped = false
  private retry = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private ping: ReturnType<typeof setInterval> | undefined

  constructor(
    private token: string,
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
    this.ws = null
  }

  private open() {
    const ws = new WebSocket(this.url)
    this.ws = ws
    let authed = false
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: this.token }))
    ws.onmessage = (e) => {
      let frame: Frame
      try {
        frame = JSON.parse(e.data)
      } catch {
        return
      }
      if (frame.type === 'auth_ok') {
        authed = true
        this.retry = 0
        clearInterval(this.ping)
        this.ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('{"type":"ping"}'), 25_000)
        this.handlers.onReady()
        return
      }
      if (frame.type === 'error' && !authed && frame.code === 70001) {
        this.stopped = true
        this.handlers.onEnded('expired')
        return
      }
      this.handlers.onFrame(frame)
    }
    ws.onclose = (e) => {
      clearInterval(this.ping)
      if (this.ws !== ws || this.stopped) return
      const ended = CLOSE_ENDED[e.code]
      if (ended) {
        this.stopped = true
        this.handlers.onEnded(ended)
        return
      }
      this.handlers.onDown()
      // 0.5 s, 1 s, 2 s … at most 5 s between attempts.
      const wait = Math.min(5_000, 500 * 2 ** this.retry)
      this.retry += 1
      this.timer = setTimeout(() => this.open(), wait)
    }
  }
}
