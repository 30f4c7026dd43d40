import { describe, expect, it } from 'vitest'
import { cell, chartOf, tableRows, timelineOf } from './report'

const categories = {
  name: 'categories',
  from: 0,
  to: 1,
  columns: [
    { key: 'date', label: '日期', kind: 'date' as const },
    { key: 'category_id', label: '分类ID', kind: 'integer' as const },
    { key: 'category', label: '咨询分类', kind: 'text' as const },
    { key: 'sessions', label: '会话数', kind: 'integer' as const },
  ],
  rows: [
    ['2026-11-20', 1, '退货', 2],
    ['2026-11-21', 1, '退货', 1],
    ['2026-11-21', 2, '发票', 4],
  ],
  totals: ['合计', null, null, 7],
}

describe('reports', () => {
  it('formats cells by kind', () => {
    expect(cell(0.875, 'percent')).toBe('87.5%')
    expect(cell(4.5, 'number')).toBe('4.50')
    expect(cell(null, 'integer')).toBe('')
    expect(cell(12, 'integer')).toBe('12')
  })

  it('keys rows by column and puts the totals last', () => {
    const rows = tableRows(categories, 'Total')
    expect(rows).toHaveLength(4)
    expect(rows[3]).toEqual({ date: 'Total', category_id: '', category: '', sessions: '7' })
  })

  it('stacks categories per day, and charts agents side by side', () => {
    const c = chartOf(categories)!
    expect(c.categories).toEqual(['2026-11-20', '2026-11-21'])
    expect(c.series).toEqual([
      { name: '退货', data: [2, 1] },
      { name: '发票', data: [0, 4] },
    ])
    const workload = {
      name: 'workload',
      from: 0,
      to: 1,
      columns: [
        { key: 'agent_name', label: '客服', kind: 'text' as const },
        { key: 'sessions', label: '会话数', kind: 'integer' as const },
        { key: 'replies', label: '回复消息数', kind: 'integer' as const },
      ],
      rows: [
        ['小王', 3, 10],
        ['小李', 1, 2],
      ],
    }
    expect(chartOf(workload)).toEqual({
      categories: ['小王', '小李'],
      stacked: false,
      series: [
        { name: '会话数', data: [3, 1] },
        { name: '回复消息数', data: [10, 2] },
      ],
    })
    expect(chartOf({ ...workload, name: 'sessions' })).toBeNull()
    const hourly = {
      name: 'hourly',
      from: 0,
      to: 1,
      columns: ['hour', 'queued', 'buyers', 'buyer_messages', 'replies'].map((key) => ({ key, label: key, kind: 'integer' as const })),
      rows: [
        ['08:00-09:00', 2, 1, 1, 2],
        ['09:00-10:00', 0, 3, 5, 4],
      ],
    }
    expect(chartOf(hourly)).toEqual({
      categories: ['08', '09'],
      stacked: false,
      series: [
        { name: 'queued', data: [2, 0] },
        { name: 'buyers', data: [1, 3] },
        { name: 'buyer_messages', data: [1, 5] },
        { name: 'replies', data: [2, 4] },
      ],
    })
  })

  it('turns the quality overview into a queue line and a state map', () => {
    const at = new Date(2026, 10, 21, 9, 0).getTime()
    const quality = {
      name: 'quality',
      from: at,
      to: at + 1_800_000,
      columns: [
        { key: 'time', label: '时间', kind: 'time' as const },
        { key: 'queue', label: '排队人数', kind: 'integer' as const },
        { key: 'queue_peak', label: '排队峰值', kind: 'integer' as const },
        { key: 'online_agents', label: '在线客服数', kind: 'integer' as const },
        { key: 'agent_2', label: 'ann', kind: 'text' as const },
        { key: 'agent_3', label: 'bob', kind: 'text' as const },
      ],
      rows: [
        [at, 0, 3, 1, '在线', '未登录'],
        [at + 900_000, 2, 2, 1, '挂起', '在线'],
      ],
    }
    expect(chartOf(quality)).toBeNull()
    expect(timelineOf(quality)).toEqual({
      times: ['09:00', '09:15'],
      queue: [0, 2],
      peak: [3, 2],
      agents: ['ann', 'bob'],
      cells: [
        [0, 0, 2],
        [0, 1, 0],
        [1, 0, 1],
        [1, 1, 2],
      ],
    })
    expect(timelineOf(categories)).toBeNull()
  })
})
