import { createI18n } from 'vue-i18n'
import en from './locales/en'
import zh from './locales/zh-CN'

const LANG = 'kefu.lang'
export type Lang = 'zh-CN' | 'en'

export const i18n = createI18n({
  legacy: false,
  locale: (localStorage.getItem(LANG) as Lang | null) ?? 'zh-CN',
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zh, en },
})

export function setLang(lang: Lang) {
  i18n.global.locale.value = lang
  localStorage.setItem(LANG, lang)
  document.documentElement.lang = lang
}
