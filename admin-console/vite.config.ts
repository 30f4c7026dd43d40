import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

// Served by the kefu binary at /admin/. `npm run dev` proxies the API and socket to a kefu on
// 127.0.0.1:8080 (`cargo xtask run`).
const kefu = 'http://127.0.0.1:8080'
export default defineConfig({
  base: '/admin/',
  plugins: [vue()],
  build: { chunkSizeWarningLimit: 1500 },
  server: {
    proxy: {
      '/api': kefu,
      '/media': kefu,
      '/demo': kefu,
      '/im': { target: kefu, ws: true },
    },
  },
  test: { environment: 'jsdom' },
})
