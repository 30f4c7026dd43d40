import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { BuyerSocket, type Handlers } from './im'

/** A WebSocket double: records what the page sends and lets the test answer. */
class FakeSocket {
  static all: FakeSocket[] = []
  static OPEN = 1
  readyState = 0
  sent: Record<string, unknown>[] = []
  onopen: (() => void) | null = null
  onmessage: ((e: { data: string }) => void) | null = null
  onclose: ((e: { code: number; reason: string }) => void) | null = null
  constructor(readonly url: string) {
    FakeSocket.all.push(this)
  }
  send(data: string) {
    this.sent.push(JSON.parse(data))
  }
  close() {}
  open() {
    this.readyState = 1
    this.onopen?.()
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }
  drop(code = 1006) {
    this.readyState = 3
    this.onclose?.({ code, reason: '' })
  }
}

const login = { sdkappid: 1400000001, identifier: 'b1', usersig: 'sig', service_account: '@cs', expires_at: 0 }

function handlers(): Handlers & { seen: number[]; ended: number[] } {
  const seen: number[] = []
  const ended: number[] = []
  return {
    seen,
    ended,
    onMessage: (m) => seen.push(m.seq),
    onRecalled: () => {},
    onTyping: () => {},
    onAck: () => {},
    onRefused: () => {},
    onConnected: () => {},
    onEnded: (code) => ended.push(code),
    onFirstLogin: () => {},
  }
}

const msg = (seq: number) => ({ type: 'msg', chat_id: 9, seq, from: '@cs', to: 'b1', msg_time: 1, flag_bits: 0, body: [] })

describe('BuyerSocket', () => {
  beforeEach(() => {
    FakeSocket.all = []
    vi.stubGlobal('WebSocket', FakeSocket)
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('shows recent history, then resumes after the last seq and re-sends what was not acknowledged', () => {
    const h = handlers()
    const s = new BuyerSocket(login, h, 'ws://kefu/im/ws')
    s.start()
    const first = FakeSocket.all[0]
    first.open()
    expect(first.sent[0]).toMatchObject({ type: 'auth', identifier: 'b1', usersig: 'sig' })
    first.receive({ type: 'auth_ok', chats: [{ chat_id: 9, peer: '@cs', last_seq: 120 }] })
    expect(first.sent[1]).toEqual({ type: 'sync', chat_id: 9, after_seq: 70 })
    first.receive(msg(71))
    first.receive(msg(72))
    const id = s.send([{ MsgType: 'TIMTextElem', MsgContent: { Text: 'hi' } }])
    first.drop()

    vi.advanceTimersByTime(500)
    const second = FakeSocket.all[1]
    second.open()
    second.receive({ type: 'auth_ok', chats: [{ chat_id: 9, peer: '@cs', last_seq: 75 }] })
    expect(second.sent[1]).toEqual({ type: 'sync', chat_id: 9, after_seq: 72 })
    expect(second.sent[2]).toMatchObject({ type: 'send', id, to: '@cs' })
    second.receive({ type: 'ack', id, chat_id: 9, seq: 76 })
    second.drop()
    vi.advanceTimersByTime(1000)
    const third = FakeSocket.all[2]
    third.open()
    third.receive({ type: 'auth_ok', chats: [{ chat_id: 9, peer: '@cs', last_seq: 76 }] })
    expect(third.sent.filter((f) => f.type === 'send')).toEqual([])
    expect(h.seen).toEqual([71, 72])
  })

  it('stops for good when the login is kicked or expires', () => {
    const h = handlers()
    new BuyerSocket(login, h, 'ws://kefu/im/ws').start()
    FakeSocket.all[0].open()
    FakeSocket.all[0].receive({ type: 'auth_ok', chats: [] })
    FakeSocket.all[0].drop(4002)
    vi.advanceTimersByTime(60_000)
    expect(FakeSocket.all).toHaveLength(1)
    expect(h.ended).toEqual([4002])
  })

  it('ignores messages of other chats', () => {
    const h = handlers()
    new BuyerSocket(login, h, 'ws://kefu/im/ws').start()
    FakeSocket.all[0].open()
    FakeSocket.all[0].receive({ type: 'auth_ok', chats: [] })
    FakeSocket.all[0].receive({ ...msg(3), from: 'someone_else' })
    expect(h.seen).toEqual([])
  })
})
