import { ApiFailure } from './api'
import { lang } from './i18n'

/** What to tell the user about a failed call: the server's own explanation when it gave one. */
export function explain(e: unknown): string {
  if (e instanceof ApiFailure) {
    if (e.code !== 'network') return e.message
    return lang() === 'en' ? 'The network failed; try again shortly' : '网络连接失败，请稍后重试'
  }
  return e instanceof Error ? e.message : String(e)
}
