// The tenant's plan and its use, shown in the header and consulted by the seats screen.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, call, type Schemas } from '@kefu/shared/api'

export const usePlan = defineStore('plan', () => {
  const usage = ref<Schemas['PlanUsage'] | null>(null)
  async function load() {
    usage.value = await call(api.GET('/api/v1/plan'))
  }
  return { usage, load }
})
