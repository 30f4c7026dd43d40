import { createRouter, createWebHistory } from 'vue-router'
import { useSession } from '@kefu/shared/session'

export const router = createRouter({
  history: createWebHistory('/admin/'),
  routes: [
    { path: '/login', name: 'login', component: () => import('@kefu/shared/LoginView.vue') },
    {
      path: '/',
      component: () => import('./views/ShellView.vue'),
      meta: { auth: true },
      children: [
        // Operators manage tenants; everyone else starts with the seats.
        { path: '', name: 'home', redirect: () => ({ name: useSession().account?.role === 'operator' ? 'tenants' : 'seats' }) },
        { path: 'seats', name: 'seats', component: () => import('./views/SeatsView.vue') },
        { path: 'logins', name: 'logins', component: () => import('./views/LoginsView.vue') },
        { path: 'groups', name: 'groups', component: () => import('./views/GroupsView.vue') },
        { path: 'settings', name: 'settings', component: () => import('./views/SettingsView.vue') },
        { path: 'flows', name: 'flows', component: () => import('./views/FlowsView.vue') },
        { path: 'schedule', name: 'schedule', component: () => import('./views/ScheduleView.vue') },
        { path: 'app', name: 'app', component: () => import('./views/AppView.vue') },
        { path: 'tenants', name: 'tenants', component: () => import('./views/TenantsView.vue') },
        { path: 'trees', name: 'trees', component: () => import('./views/TreesView.vue') },
        { path: 'messages', name: 'messages', component: () => import('./views/MessagesView.vue') },
        { path: 'reports', name: 'reports', component: () => import('./views/ReportsView.vue') },
        { path: 'audit', name: 'audit', component: () => import('./views/AuditView.vue') },
      ],
    },
    { path: '/:rest(.*)', redirect: '/' },
  ],
})

router.beforeEach(async (to) => {
  const session = useSession()
  if (!to.meta.auth) return true
  if (!session.account && !(await session.restore())) return { name: 'login' }
  if (session.mustChangePassword) return { name: 'login' }
  return true
})
