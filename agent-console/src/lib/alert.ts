// The new-buyer alert: a 4-second chime (Web Audio, so it plays whether or not the tab is in
// front) and a 10-second desktop notification. Both stop when the agent opens the conversation.

let audio: AudioContext | null = null

/** Call from a click (going online): browsers only let pages play sound after a gesture. */
export function unlockSound() {
  audio ??= new AudioContext()
  if (audio.state === 'suspended') void audio.resume()
}

interface Ringing {
  stop(): void
}
const ringing = new Map<number, Ringing[]>()

function chime(): Ringing | null {
  if (!audio) return null
  const ctx = audio
  const gain = ctx.createGain()
  gain.connect(ctx.destination)
  gain.gain.value = 0
  const osc = ctx.createOscillator()
  osc.type = 'sine'
  osc.connect(gain)
  const t0 = ctx.currentTime
  // Two-tone pulses, 0.5 s apart, for 4 seconds.
  for (let i = 0; i < 8; i++) {
    const t = t0 + i * 0.5
    osc.frequency.setValueAtTime(i % 2 ? 660 : 880, t)
    gain.gain.setValueAtTime(0.0001, t)
    gain.gain.exponentialRampToValueAtTime(0.25, t + 0.05)
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.45)
  }
  osc.start(t0)
  osc.stop(t0 + 4)
  return { stop: () => osc.stop() }
}

export type Permission = NotificationPermission | 'unsupported'

export function permission(): Permission {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission
}

export async function askPermission(): Promise<Permission> {
  if (typeof Notification === 'undefined') return 'unsupported'
  if (Notification.permission === 'default') return await Notification.requestPermission()
  return Notification.permission
}

/** Rings and notifies for conversation `id`; `onOpen` runs when the notification is clicked. */
export function alertNewBuyer(id: number, title: string, body: string, onOpen: () => void) {
  const parts: Ringing[] = []
  const sound = chime()
  if (sound) parts.push(sound)
  if (permission() === 'granted') {
    const n = new Notification(title, { body, tag: `kefu-${id}` })
    n.onclick = () => {
      window.focus()
      onOpen()
    }
    const timer = setTimeout(() => n.close(), 10_000)
    parts.push({ stop: () => (clearTimeout(timer), n.close()) })
  }
  ringing.set(id, parts)
}

export function silence(id: number) {
  for (const p of ringing.get(id) ?? []) {
    try {
      p.stop()
    } catch {
      // already finished
    }
  }
  ringing.delete(id)
}
