// PDF export: a print-ready page of a transcript, printed by the browser ("Save as PDF").
// The browser lays out the Chinese text with the system's fonts, so nothing is embedded here.
import type { Message } from './api'
import { clock, preview } from './messages'

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c)

export interface PrintRow {
  who: string
  time: string
  text: string
}

export function transcriptRows(messages: Message[], t: (k: string) => string): PrintRow[] {
  return messages.map((m) => ({
    who: `${t(`chat.roles.${m.role}`)} · ${m.from_account}`,
    time: clock(m.msg_time),
    text: preview(m.msg_body, t),
  }))
}

/** The printable document; exported for tests. */
export function printable(title: string, rows: PrintRow[]): string {
  const body = rows
    .map((r) => `<tr><td class="who">${escape(r.who)}</td><td class="time">${escape(r.time)}</td><td>${escape(r.text)}</td></tr>`)
    .join('')
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;font-size:12px;margin:24px}
h1{font-size:16px}table{width:100%;border-collapse:collapse}td{border-bottom:1px solid #ddd;padding:4px 6px;vertical-align:top;white-space:pre-wrap}
.who{width:22%;color:#555}.time{width:14%;color:#888}
</style></head><body><h1>${escape(title)}</h1><table>${body}</table></body></html>`
}

/** Opens the browser's print dialog for the document (choose "Save as PDF"). */
export function printDocument(html: string) {
  const frame = document.createElement('iframe')
  frame.style.position = 'fixed'
  frame.style.width = frame.style.height = '0'
  frame.style.border = '0'
  frame.srcdoc = html
  frame.onload = () => {
    frame.contentWindow?.focus()
    frame.contentWindow?.print()
    setTimeout(() => frame.remove(), 60_000)
  }
  document.body.appendChild(frame)
}
