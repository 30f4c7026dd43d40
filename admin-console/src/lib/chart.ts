// One ECharts instance bound to an element for a component's life: created on mount, drawn
// again when its inputs change, resized with the window, disposed on unmount.
import { onBeforeUnmount, onMounted, useTemplateRef, watch, type WatchSource } from 'vue'
import * as echarts from 'echarts/core'

/** `key` names the element's template ref (`<div ref="chart">`). */
export function useChart(key: string, draw: (chart: echarts.ECharts, el: HTMLDivElement) => void, inputs: WatchSource) {
  const el = useTemplateRef<HTMLDivElement>(key)
  let chart: echarts.ECharts | null = null
  const redraw = () => {
    if (chart && el.value) draw(chart, el.value)
  }
  const resize = () => chart?.resize()
  onMounted(() => {
    if (el.value) chart = echarts.init(el.value)
    redraw()
    window.addEventListener('resize', resize)
  })
  onBeforeUnmount(() => {
    window.removeEventListener('resize', resize)
    chart?.dispose()
  })
  watch(inputs, redraw, { deep: true })
}
