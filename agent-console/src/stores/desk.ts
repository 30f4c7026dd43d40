// The agent's desk: status, queue, the incoming list and each conversation's messages, kept
// current by the console socket. After the socket comes back everything shown is read again
// from the API, so a drop leaves no gap.
import { defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'
import { api, call, uploadImage, type Conversation, type Message } from '@kefu/shared/api'
import { alertNewBuyer, silence } from '../lib/alert'
import { merge } from '@kefu/shared/messages'
import { ConsoleSocket, type Ended, type Frame } from '../lib/socket'

export const PAGE = 10
const TYPING_SHOWN_MS = 4000

/** Runs a refresh whose failure needs no message of its own: the offline banner, or the next
 *  refresh, covers it. */
function quietly(p: Promise<unknown>) {
  p.catch((e) => console.warn('kefu: refresh failed', e))
}

export interface Entry {
  conversation: Conversation
  /** No longer this agent's (transferred away or taken back); kept greyed until reload. */
  gone: boolean
}

export const useDesk = defineStore('desk', () => {
  const status = ref<'online' | 'suspended'>('suspended')
  const active = ref(0)
  const waiting = ref(0)
  const entries = reactive(new Map<number, Entry>())
  const fresh = reactive(new Set<number>())
  const currentId = ref<number | null>(null)
  const messages = reactive(new Map<number, Message[]>())
  const complete = reactive(new Set<number>())
  const typingUntil = reactive(new Map<string, number>())
  const connected = ref(false)
  const everConnected = ref(false)
  const onlyMine = ref(false)
  let socket: ConsoleSocket | null = null
  let timers: ReturnType<typeof setInterval>[] = []
  let loadedOnce = false
  let lastTyping = 0
  let typingTimer: ReturnType<typeof setTimeout> | undefined
  let alertTitle = '有新用户接入'
  let onEnded: (reason: Ended) => void = () => {}

  const list = computed(() => {
    const all = [...entries.values()].filter((e) => !onlyMine.value || !e.gone)
    const open = (e: Entry) => !e.gone && e.conversation.state !== 'ended'
    const newest = (a: Entry, b: Entry) => b.conversation.created_at - a.conversation.created_at
    return [...all.filter(open).sort(newest), ...all.filter((e) => !open(e)).sort(newest)]
  })
  const current = computed(() => (currentId.value === null ? null : (entries.get(currentId.value) ?? null)))

  function start(token: string, opts: { alertTitle: string; onEnded: (reason: Ended) => void }) {
    alertTitle = opts.alertTitle
    onEnded = opts.onEnded
    socket?.stop()
    socket = new ConsoleSocket(token, {
      onReady: () => {
        connected.value = true
        everConnected.value = true
        quietly(reload())
      },
      onDown: () => (connected.value = false),
      onEnded: (reason) => {
        connected.value = false
        onEnded(reason)
      },
      onFrame: handle,
    })
    socket.start()
    // Failures here (the server away) show as the offline banner; the next tick retries.
    timers = [
      setInterval(() => void api.POST('/api/v1/auth/heartbeat').catch(() => undefined), 30_000),
      setInterval(() => void loadQueue().catch(() => undefined), 10_000),
    ]
  }

  function stop() {
    socket?.stop()
    socket = null
    timers.forEach(clearInterval)
    timers = []
    for (const id of fresh) silence(id)
    entries.clear()
    fresh.clear()
    messages.clear()
    complete.clear()
    currentId.value = null
    connected.value = false
    everConnected.value = false
    loadedOnce = false
  }

  async function reload() {
    await Promise.all([loadStatus(), loadQueue(), loadList()])
    if (currentId.value !== null) await catchUp(currentId.value)
  }

  async function loadStatus() {
    const s = await call(api.GET('/api/v1/me/status'))
    status.value = s.status
    active.value = s.active
  }

  async function setStatus(s: 'online' | 'suspended') {
    const r = await call(api.PUT('/api/v1/me/status', { body: { status: s } }))
    status.value = r.status
    active.value = r.active
    await loadList()
  }

  async function loadQueue() {
    const counts = await call(api.GET('/api/v1/queue'))
    waiting.value = counts.reduce((n, c) => n + c.waiting, 0)
  }

  async function loadList() {
    const mine = await call(api.GET('/api/v1/conversations', { params: { query: { scope: 'mine', limit: 100 } } }))
    const seen = new Set<number>()
    for (const c of mine) {
      seen.add(c.id)
      const known = entries.get(c.id)
      const arrived = c.state === 'assigned' && (!known || known.gone || known.conversation.state !== 'assigned')
      entries.set(c.id, { conversation: c, gone: false })
      if (arrived && loadedOnce && c.id !== currentId.value) {
        fresh.add(c.id)
        alertNewBuyer(c.id, alertTitle, c.buyer, () => void open(c.id))
      }
      if (c.state === 'ended' && fresh.has(c.id)) {
        fresh.delete(c.id)
        silence(c.id)
      }
    }
    for (const [id, e] of entries) if (!seen.has(id) && e.conversation.state !== 'ended') e.gone = true
    loadedOnce = true
  }

  /** Reads one conversation's entry again (unread count, preview); an unknown one reloads the
   *  list. */
  async function refreshOne(id: number) {
    const entry = entries.get(id)
    if (!entry) return loadList()
    entry.conversation = await call(api.GET('/api/v1/conversations/{id}', { params: { path: { id } } }))
  }

  function handle(frame: Frame) {
    if (frame.type === 'conversation') {
      if (frame.change === 'message') {
        // Only that conversation changed: the open chat is read first (so it shows no unread
        // count), then its entry alone is read again.
        const id = frame.conversation_id
        quietly((id === currentId.value ? catchUp(id) : Promise.resolve()).then(() => refreshOne(id)))
      } else {
        quietly(loadList())
        quietly(loadStatus())
        quietly(loadQueue())
        if (frame.conversation_id === currentId.value) quietly(catchUp(frame.conversation_id))
      }
    } else if (frame.type === 'typing') {
      typingUntil.set(frame.from, Date.now() + TYPING_SHOWN_MS)
      setTimeout(() => {
        if ((typingUntil.get(frame.from) ?? 0) <= Date.now()) typingUntil.delete(frame.from)
      }, TYPING_SHOWN_MS + 50)
    }
  }

  async function open(id: number) {
    currentId.value = id
    fresh.delete(id)
    silence(id)
    if (!messages.has(id)) await loadMore(id)
    else await catchUp(id)
  }

  /** Older messages, `PAGE` at a time (the bot's part included). */
  async function loadMore(id: number) {
    const known = messages.get(id) ?? []
    const before = known.length ? known[0].seq : undefined
    const page = await call(
      api.GET('/api/v1/conversations/{id}/messages', { params: { path: { id }, query: { before, limit: PAGE } } }),
    )
    messages.set(id, merge(known, page))
    if (page.length < PAGE) complete.add(id)
    if (!known.length) await markRead(id)
  }

  /** Newer messages than those shown, however many arrived meanwhile. */
  async function catchUp(id: number) {
    const known = messages.get(id)
    if (!known?.length) return loadMore(id)
    const newest = known[known.length - 1].seq
    let merged = known
    let before: number | undefined
    for (;;) {
      const page = await call(
        api.GET('/api/v1/conversations/{id}/messages', { params: { path: { id }, query: { before, limit: 50 } } }),
      )
      merged = merge(merged, page)
      const oldest = page.length ? page[page.length - 1].seq : newest
      if (page.length < 50 || oldest <= newest + 1) break
      before = oldest
    }
    messages.set(id, merged)
    await markRead(id)
  }

  async function markRead(id: number) {
    const known = messages.get(id)
    const entry = entries.get(id)
    if (!known?.length || !entry || entry.gone || entry.conversation.state === 'ended') return
    if (id !== currentId.value || document.hidden) return
    await call(api.POST('/api/v1/conversations/{id}/read', { params: { path: { id } }, body: { seq: known[known.length - 1].seq } }))
    entry.conversation.unread = 0
  }

  async function send(id: number, msgBody: unknown[]) {
    const m = await call(
      api.POST('/api/v1/conversations/{id}/messages', { params: { path: { id } }, body: { msg_body: msgBody } }),
    )
    return sent(id, m)
  }

  /** Shows a message this console sent (the server does not echo it on the socket). */
  function sent(id: number, m: Message) {
    messages.set(id, merge(messages.get(id) ?? [], [m]))
    const entry = entries.get(id)
    if (entry) entry.conversation.last_message = m
    return m
  }

  const sendText = (id: number, text: string) => send(id, [{ MsgType: 'TIMTextElem', MsgContent: { Text: text } }])

  async function sendImage(id: number, file: Blob) {
    const body = await uploadImage(file)
    return send(id, body)
  }

  /** Shows the buyer that the agent is typing, at most once a second: keystrokes inside the
   *  second are folded into one signal at its end. */
  function typing(id: number) {
    const wait = lastTyping + 1000 - Date.now()
    if (wait > 0) {
      typingTimer ??= setTimeout(() => {
        typingTimer = undefined
        typing(id)
      }, wait)
      return
    }
    lastTyping = Date.now()
    void api.POST('/api/v1/conversations/{id}/typing', { params: { path: { id } } }).catch(() => undefined)
  }

  function isTyping(buyer: string) {
    return (typingUntil.get(buyer) ?? 0) > Date.now()
  }

  async function afterLeaving(id: number) {
    await Promise.all([loadList(), loadStatus()])
    await catchUp(id)
  }

  return {
    status,
    active,
    waiting,
    entries,
    fresh,
    currentId,
    current,
    messages,
    complete,
    connected,
    everConnected,
    onlyMine,
    list,
    start,
    stop,
    reload,
    setStatus,
    loadList,
    open,
    loadMore,
    catchUp,
    sendText,
    sendImage,
    send,
    sent,
    typing,
    isTyping,
    afterLeaving,
  }
})
