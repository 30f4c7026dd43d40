import { createRouter, createWebHistory } from 'vue-router'
import { useSession } from '@kefu/shared/session'

export const router = createRouter({
  history: createWebHistory('/agent/'),
  routes: [
    { path: '/login', name: 'login', component: () => import('@kefu/shared/LoginView.vue') },
    { path: '/', name: 'home', component: () => import('./views/DeskView.vue'), meta: { auth: true } },
    { path: '/tagged', name: 'tagged', component: () => import('./views/TaggedView.vue'), meta: { auth: true } },
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
