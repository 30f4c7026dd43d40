import { makeI18n } from '@kefu/shared/i18n'
import en from './locales/en'
import zh from './locales/zh-CN'

export const i18n = makeI18n(zh, en)
