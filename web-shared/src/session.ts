// Who is logged in. The token lives in sessionStorage: a reload keeps the login, a new tab
// logs in on its own (one live login per account is the server's rule). Each console keeps
// its own login (`sessionPrefix` at start-up).
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, call, setToken, type Account } from './api'

let prefix = 'kefu'
/** Names this console's stored login; call before the store is first used. */
export function sessionPrefix(p: string) {
  prefix = p
}

/** Why the console went back to the login page. */
export type EndReason = 'kicked' | 'replaced' | 'expired' | 'logged_out' | null

export const useSession = defineStore('session', () => {
  const KEY = `${prefix}.token`
  const TENANT = `${prefix}.tenant`
  const token = ref<string | null>(sessionStorage.getItem(KEY))
  const account = ref<Account | null>(null)
  const tenantName = ref('')
  const mustChangePassword = ref(false)
  const endReason = ref<EndReason>(null)
  setToken(token.value)

  const loggedIn = computed(() => token.value !== null && account.value !== null)

  function keep(t: string | null) {
    token.value = t
    setToken(t)
    if (t) sessionStorage.setItem(KEY, t)
    else sessionStorage.removeItem(KEY)
  }

  async function login(tenant: string, username: string, password: string) {
    const r = await call(api.POST('/api/v1/auth/login', { body: { tenant: tenant || undefined, username, password } }))
    localStorage.setItem(TENANT, tenant)
    endReason.value = null
    keep(r.token)
    account.value = r.account
    mustChangePassword.value = r.must_change_password
    await loadMe()
  }

  /** Restores a login after a reload; false when there is none or it has ended. */
  async function restore(): Promise<boolean> {
    if (!token.value) return false
    try {
      await loadMe()
      return true
    } catch {
      keep(null)
      return false
    }
  }

  async function loadMe() {
    const me = await call(api.GET('/api/v1/auth/me'))
    account.value = me.account
    tenantName.value = me.tenant?.name ?? ''
    mustChangePassword.value = me.account.must_change_password
  }

  async function changePassword(oldPassword: string, newPassword: string) {
    await call(api.POST('/api/v1/auth/password', { body: { old_password: oldPassword, new_password: newPassword } }))
    mustChangePassword.value = false
    await loadMe()
  }

  /** Ends the login here; `reason` is shown on the login page. */
  async function logout(reason: EndReason = 'logged_out') {
    if (reason === 'logged_out' && token.value) {
      await api.POST('/api/v1/auth/logout').catch(() => undefined)
    }
    keep(null)
    account.value = null
    endReason.value = reason
  }

  const lastTenant = () => localStorage.getItem(TENANT) ?? 'demo'

  return { token, account, tenantName, mustChangePassword, endReason, loggedIn, login, restore, changePassword, logout, lastTenant, loadMe }
})
