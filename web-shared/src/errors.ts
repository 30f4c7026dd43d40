import { ApiFailure } from './api'
import { lang } from './i18n'

/** The server explains in English; the codes people meet most are said in Chinese too. */
const ZH: Partial<Record<string, string>> = {
  invalid_credentials: '企业代码、账号或密码不正确',
  already_logged_in: '该账号已在其他地方登录；请先在那里退出，或请管理员剔除该登录',
  too_many_attempts: '登录失败次数过多，请一分钟后再试',
  account_disabled: '该账号已被禁用，请联系管理员',
  tenant_disabled: '该企业已被停用，请联系平台运营',
  wrong_password: '当前密码不正确',
  seat_limit_reached: '已达套餐坐席上限',
  online_limit_reached: '在线坐席已达套餐上限，请稍后再试或联系管理员',
}

/** What to tell the user about a failed call: the server's own explanation when it gave one. */
export function explain(e: unknown): string {
  if (e instanceof ApiFailure) {
    const zh = lang() !== 'en'
    if (e.code === 'network') return zh ? '网络连接失败，请稍后重试' : 'The network failed; try again shortly'
    return (zh && ZH[e.code]) || e.message
  }
  return e instanceof Error ? e.message : String(e)
}
