// vue-i18n set up the same way for every console: Chinese first, English available, the
// choice remembered in this browser.
import { createI18n } from 'vue-i18n'

const LANG = 'kefu.lang'
export type Lang = 'zh-CN' | 'en'

let current: { global: { locale: { value: string } } } | null = null

export function makeI18n<M extends Record<string, unknown>>(zh: M, en: M) {
  const i18n = createI18n<[M], Lang, false>({
    legacy: false,
    locale: (localStorage.getItem(LANG) as Lang | null) ?? 'zh-CN',
    fallbackLocale: 'zh-CN',
    messages: { 'zh-CN': zh, en },
  })
  current = i18n as unknown as typeof current
  return i18n
}

export function lang(): Lang {
  return (current?.global.locale.value as Lang | undefined) ?? 'zh-CN'
}

export function setLang(lang: Lang) {
  if (current) current.global.locale.value = lang
  localStorage.setItem(LANG, lang)
  document.documentElement.lang = lang
}
