import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

// Served by the kefu binary at /chat/ (the page, widget.js) and, in demo mode, /demo/ (the
// shop page). `npm run dev` proxies to a kefu on 127.0.0.1:8080.
const kefu = 'http://127.0.0.1:8080'
export default defineConfig({
  base: '/chat/',
  plugins: [vue()],
  server: { proxy: { '/media': kefu, '/demo': kefu, '/im': { target: kefu, ws: true } } },
  test: { environment: 'jsdom' },
})
