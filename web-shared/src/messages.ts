// What a stored message shows: IM elements turned into parts the chat renders, the incoming
// list's preview, and where the chat shows the time.

export type Part =
  | { kind: 'text'; text: string }
  | { kind: 'image'; thumb: string; large: string; shown: boolean }
  | { kind: 'sound'; url: string; seconds: number }
  | { kind: 'file'; url: string; name: string }
  | { kind: 'card'; title: string; desc: string; pic: string; url: string }
  | { kind: 'menu'; header: string; items: string[]; tail: string }
  | { kind: 'rating'; head: string; tail: string; options: string[]; choices: Choice[]; sessionId: string; expireTime: number; stars: boolean }
  | { kind: 'rules'; flags: number }
  | { kind: 'notice'; key: string }
  | { kind: 'other'; key: string; text?: string }

/** A rating option: `id` 101–105, sent back with `src` 10. */
export interface Choice {
  id: string
  content: string
}

type Element = { MsgType?: string; MsgContent?: Record<string, unknown> }
type ImageInfo = { Type?: number; URL?: string }

const str = (v: unknown) => (typeof v === 'string' ? v : '')

/** Customer-service notices (`src`) that are only a line in the chat. */
const NOTICES: Record<string, string> = {
  '7': 'notice.opened',
  '10': 'notice.rated',
  '12': 'notice.typing',
  '18': 'notice.noAgent',
  '19': 'notice.ended',
  '20': 'notice.timeout',
  '24': 'notice.rateNow',
}

function custom(content: Record<string, unknown>): Part {
  let data: Record<string, unknown>
  try {
    data = JSON.parse(str(content.Data))
  } catch {
    return { kind: 'other', key: 'part.custom', text: str(content.Desc) }
  }
  if (!data || typeof data !== 'object' || data.chatbotPlugin !== undefined) return { kind: 'other', key: 'part.custom' }
  const src = String(data.src ?? '')
  const inner = (data.content ?? {}) as Record<string, unknown>
  if (src === '22') {
    return { kind: 'card', title: str(inner.header), desc: str(inner.desc), pic: str(inner.pic), url: str(inner.url) }
  }
  if (src === '15') {
    const items = Array.isArray(inner.items) ? inner.items : []
    return {
      kind: 'menu',
      header: str(inner.header),
      items: items.map((i: { content?: unknown }) => str(i?.content)),
      tail: str(inner.tail),
    }
  }
  if (src === '9') {
    const menu = (data.menuContent ?? {}) as Record<string, unknown>
    const choices = (Array.isArray(menu.menu) ? menu.menu : []).map((m: { id?: unknown; content?: unknown }) => ({
      id: String(m?.id ?? ''),
      content: str(m?.content),
    }))
    return {
      kind: 'rating',
      head: str(menu.head),
      tail: str(menu.tail),
      options: choices.map((c) => c.content),
      choices,
      sessionId: str(menu.sessionId),
      expireTime: Number(menu.expireTime ?? 0),
      stars: Number(menu.type ?? 1) !== 2,
    }
  }
  if (src === '23') return { kind: 'rules', flags: Number(inner.menuSendRuleFlag ?? 0) }
  if (src === '10') {
    const chosen = (data.menuSelected ?? {}) as { content?: unknown }
    return { kind: 'other', key: 'notice.rated', text: str(chosen.content) }
  }
  if (NOTICES[src]) return { kind: 'notice', key: NOTICES[src] }
  return { kind: 'other', key: 'part.custom' }
}

function image(content: Record<string, unknown>): Part {
  const infos = (Array.isArray(content.ImageInfoArray) ? content.ImageInfoArray : []) as ImageInfo[]
  const by = (t: number) => infos.find((i) => i.Type === t)?.URL ?? ''
  // ImageFormat: 1 JPG, 2 GIF, 3 PNG, 4 BMP, 255 other. Only JPEG and PNG are shown.
  const format = Number(content.ImageFormat ?? 255)
  const original = by(1)
  return {
    kind: 'image',
    thumb: by(3) || by(2) || original,
    large: by(2) || original,
    shown: (format === 1 || format === 3) && original !== '',
  }
}

export function parts(body: unknown): Part[] {
  if (!Array.isArray(body)) return []
  return (body as Element[]).map((e): Part => {
    const c = (e.MsgContent ?? {}) as Record<string, unknown>
    switch (e.MsgType) {
      case 'TIMTextElem':
        return { kind: 'text', text: str(c.Text) }
      case 'TIMImageElem':
        return image(c)
      case 'TIMSoundElem':
        return { kind: 'sound', url: str(c.Url), seconds: Number(c.Second ?? 0) }
      case 'TIMFileElem':
        return { kind: 'file', url: str(c.Url), name: str(c.FileName) }
      case 'TIMCustomElem':
        return custom(c)
      case 'TIMFaceElem':
        return { kind: 'other', key: 'part.face' }
      case 'TIMLocationElem':
        return { kind: 'other', key: 'part.location', text: str(c.Desc) }
      case 'TIMVideoFileElem':
        return { kind: 'other', key: 'part.video' }
      default:
        return { kind: 'other', key: 'part.unknown' }
    }
  })
}

/** Builds the `TIMCustomElem` of a customer-service message (`src` and its payload). */
export function customElem(src: string, payload: Record<string, unknown> = {}, desc = ''): unknown {
  return {
    MsgType: 'TIMCustomElem',
    MsgContent: { Data: JSON.stringify({ customerServicePlugin: 0, src, ...payload }), Desc: desc, Ext: '' },
  }
}

export const textElem = (text: string) => ({ MsgType: 'TIMTextElem', MsgContent: { Text: text } })

/** One line for the incoming list: the text, or a bracketed kind. */
export function preview(body: unknown, t: (key: string) => string): string {
  return parts(body)
    .map((p) => {
      switch (p.kind) {
        case 'text':
          return p.text.replace(/\s+/g, ' ')
        case 'image':
          return `[${t('part.image')}]`
        case 'sound':
          return `[${t('part.sound')}]`
        case 'file':
          return `[${t('part.file')}] ${p.name}`
        case 'card':
          return `[${t('part.card')}] ${p.title}`
        case 'menu':
          return `[${t('part.menu')}] ${p.header}`
        case 'rating':
          return `[${t('part.rating')}]`
        case 'rules':
          return `[${t('notice.rules')}]`
        case 'notice':
          return `[${t(p.key)}]`
        default:
          return `[${t(p.key)}]`
      }
    })
    .join(' ')
}

export const TIME_GAP_SECONDS = 180

/** The messages (by `seq`) above which the chat shows the time: the first, then any that
 *  comes 3 minutes or more after the last time shown. `messages` are oldest first. */
export function timeMarks(messages: { seq: number; msg_time: number }[]): Set<number> {
  const marks = new Set<number>()
  let last = -Infinity
  for (const m of messages) {
    if (m.msg_time - last >= TIME_GAP_SECONDS) {
      marks.add(m.seq)
      last = m.msg_time
    }
  }
  return marks
}

/** Merges pages of one chat by `seq`, oldest first, without repeats. */
export function merge<T extends { seq: number }>(known: T[], page: T[]): T[] {
  const by = new Map<number, T>()
  for (const m of known) by.set(m.seq, m)
  for (const m of page) by.set(m.seq, m)
  return [...by.values()].sort((a, b) => a.seq - b.seq)
}

export const MAX_IMAGE_BYTES = 2 * 1024 * 1024

/** Why an image cannot be sent (an i18n key), or null: JPEG or PNG by content, 2 MB at most. */
export async function imageProblem(file: Blob): Promise<string | null> {
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer())
  const jpeg = head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((b, i) => head[i] === b)
  if (!jpeg && !png) return 'image.notJpegOrPng'
  if (file.size > MAX_IMAGE_BYTES) return 'image.tooLarge'
  return null
}

/** "HH:MM" today, else "MM-DD HH:MM" (or with the year when it is not this year). */
export function clock(unixSeconds: number, now = new Date()): string {
  const d = new Date(unixSeconds * 1000)
  const pad = (n: number) => String(n).padStart(2, '0')
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`
  if (d.toDateString() === now.toDateString()) return hm
  const md = `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`
  return d.getFullYear() === now.getFullYear() ? md : `${d.getFullYear()}-${md}`
}
