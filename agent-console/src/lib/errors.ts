import { ApiFailure } from '../api/client'
import { i18n } from '../i18n'

/** What to tell the agent about a failed call: the server's own explanation when it gave one. */
export function explain(e: unknown): string {
  if (e instanceof ApiFailure) return e.code === 'network' ? i18n.global.t('error.network') : e.message
  return e instanceof Error ? e.message : String(e)
}
