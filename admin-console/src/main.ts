import { createPinia } from 'pinia'
import { createApp } from 'vue'
import { sessionPrefix } from '@kefu/shared/session'
import ElementPlus from 'element-plus'
import 'element-plus/dist/index.css'
import App from './App.vue'
import { i18n } from './i18n'
import { router } from './router'
import '@kefu/shared/base.css'

sessionPrefix('kefu.admin')
createApp(App).use(createPinia()).use(i18n).use(ElementPlus).use(router).mount('#app')
