import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ConsoleSocket, type Ended, type Frame } from './socket'

class FakeSocket {
  static all: FakeSocket[] = []
  static OPEN = 1
  readyState = 0
  sent: string[] = []
  onopen: (() => void) | null = null
  onmessage: ((e: { data: string }) => void) | null = null
  onclose: ((e: { code: number }) => void) | null = null
  constructor(readonly url: string) {
    FakeSocket.all.push(this)
  }
  send(data: string) {
    this.sent.push(data)
  }
  close() {}
  open() {
    this.readyState = 1
    this.onopen?.()
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }
  drop(code: number) {
    this.onclose?.({ code })
  }
}

function watch() {
  const log = { ready: 0, down: 0, ended: [] as Ended[], frames: [] as Frame[] }
  const s = new ConsoleSocket(
    'kf_token',
    {
      onReady: () => log.ready++,
      onDown: () => log.down++,
      onEnded: (r) => log.ended.push(r),
      onFrame: (f) => log.frames.push(f),
    },
    'ws://kefu/im/ws',
  )
  return { s, log }
}

describe('ConsoleSocket', () => {
  beforeEach(() => {
    FakeSocket.all = []
    vi.stubGlobal('WebSocket', FakeSocket)
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('logs in with the token and reloads after every reconnect', () => {
    const { s, log } = watch()
    s.start()
    FakeSocket.all[0].open()
    expect(JSON.parse(FakeSocket.all[0].sent[0])).toEqual({ type: 'auth', token: 'kf_token' })
    FakeSocket.all[0].receive({ type: 'auth_ok' })
    FakeSocket.all[0].receive({ type: 'conversation', conversation_id: 5, change: 'message' })
    FakeSocket.all[0].drop(1006)
    expect(log.down).toBe(1)
    vi.advanceTimersByTime(500)
    FakeSocket.all[1].open()
    FakeSocket.all[1].receive({ type: 'auth_ok' })
    expect(log.ready).toBe(2)
    expect(log.frames).toEqual([{ type: 'conversation', conversation_id: 5, change: 'message' }])
  })

  it('backs off to at most five seconds between attempts', () => {
    const { s } = watch()
    s.start()
    for (let i = 0; i < 6; i++) {
      FakeSocket.all[i].drop(1006)
      vi.advanceTimersByTime(5000)
    }
    FakeSocket.all[6].drop(1006)
    vi.advanceTimersByTime(4999)
    expect(FakeSocket.all).toHaveLength(7)
    vi.advanceTimersByTime(1)
    expect(FakeSocket.all).toHaveLength(8)
  })

  it('stops for good when the login is kicked, replaced or gone', () => {
    for (const [code, reason] of [
      [4001, 'kicked'],
      [4003, 'replaced'],
      [4002, 'expired'],
    ] as const) {
      FakeSocket.all = []
      const { s, log } = watch()
      s.start()
      FakeSocket.all[0].open()
      FakeSocket.all[0].receive({ type: 'auth_ok' })
      FakeSocket.all[0].drop(code)
      vi.advanceTimersByTime(60_000)
      expect(FakeSocket.all).toHaveLength(1)
      expect(log.ended).toEqual([reason])
    }
    FakeSocket.all = []
    const { s, log } = watch()
    s.start()
    FakeSocket.all[0].open()
    FakeSocket.all[0].receive({ type: 'error', code: 70001, message: 'the console token has ended' })
    expect(log.ended).toEqual(['expired'])
  })
})
