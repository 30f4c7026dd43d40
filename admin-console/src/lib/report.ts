// Turning a report (columns, rows of values, totals) into table rows and a chart.
import type { Schemas } from '@kefu/shared/api'

type Report = Schemas['ReportDto']

/** One cell as shown: times in the browser's zone, shares as percentages. */
export function cell(value: unknown, kind: Schemas['ColumnKind']): string {
  if (value === null || value === undefined) return ''
  if (kind === 'time' && typeof value === 'number') return new Date(value).toLocaleString()
  if (kind === 'percent' && typeof value === 'number') return `${(value * 100).toFixed(1)}%`
  if (kind === 'number' && typeof value === 'number') return value.toFixed(2)
  return String(value)
}

/** Rows keyed by column, with the totals row last under `totalLabel`. */
export function tableRows(r: Report, totalLabel: string): Record<string, string>[] {
  const rows = (r.rows as unknown[][]).map((row) => Object.fromEntries(r.columns.map((c, i) => [c.key, cell(row[i], c.kind)])))
  if (r.totals) {
    const totals = r.totals as unknown[]
    rows.push(Object.fromEntries(r.columns.map((c, i) => [c.key, i === 0 ? totalLabel : cell(totals[i], c.kind)])))
  }
  return rows
}

export interface Chart {
  categories: string[]
  series: { name: string; data: number[] }[]
  stacked: boolean
}

/** A chart where one reads better than a table: per agent, or sessions per day by category. */
export function chartOf(r: Report): Chart | null {
  if (r.rows.length === 0 || r.name === 'sessions' || r.name === 'quality') return null
  const col = (key: string) => r.columns.findIndex((c) => c.key === key)
  const rows = r.rows as unknown[][]
  if (r.name === 'categories') {
    const days = [...new Set(rows.map((x) => String(x[col('date')])))].sort()
    const names = [...new Set(rows.map((x) => String(x[col('category')])))]
    return {
      categories: days,
      stacked: true,
      series: names.map((n) => ({
        name: n,
        data: days.map((d) =>
          rows.filter((x) => String(x[col('date')]) === d && String(x[col('category')]) === n).reduce((s, x) => s + Number(x[col('sessions')]), 0),
        ),
      })),
    }
  }
  if (r.name === 'hourly') {
    return {
      categories: rows.map((x) => String(x[col('hour')]).slice(0, 2)),
      stacked: false,
      series: ['queued', 'buyers', 'buyer_messages', 'replies'].map((k) => ({ name: r.columns[col(k)].label, data: rows.map((x) => Number(x[col(k)] ?? 0)) })),
    }
  }
  const keys = r.name === 'workload' ? ['sessions', 'replies'] : ['sessions', 'rated']
  return {
    categories: rows.map((x) => String(x[col('agent_name')])),
    stacked: false,
    series: keys
      .filter((k) => col(k) >= 0)
      .map((k) => ({ name: r.columns[col(k)].label, data: rows.map((x) => Number(x[col(k)] ?? 0)) })),
  }
}

/** The agent states of the quality overview, in the order the chart colours them. */
export const STATES = ['未登录', '挂起', '在线'] as const

export interface Timeline {
  /** `HH:MM` of each quarter hour. */
  times: string[]
  queue: number[]
  peak: number[]
  agents: string[]
  /** `[quarter, agent, state index in STATES]`. */
  cells: [number, number, number][]
}

/** The quality overview (工作质量概览) as a queue line and an agents-by-time state map. */
export function timelineOf(r: Report): Timeline | null {
  if (r.name !== 'quality' || r.rows.length === 0) return null
  const rows = r.rows as unknown[][]
  const first = r.columns.findIndex((c) => c.key.startsWith('agent_'))
  const agentCols = first < 0 ? [] : r.columns.slice(first)
  const hhmm = (ms: number) => {
    const d = new Date(ms)
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`
  }
  const cells: [number, number, number][] = []
  rows.forEach((row, x) =>
    agentCols.forEach((_, y) => {
      const state = STATES.indexOf(String(row[first + y]) as (typeof STATES)[number])
      cells.push([x, y, Math.max(state, 0)])
    }),
  )
  return {
    times: rows.map((row) => hhmm(Number(row[0]))),
    queue: rows.map((row) => Number(row[1])),
    peak: rows.map((row) => Number(row[2])),
    agents: agentCols.map((c) => c.label),
    cells,
  }
}
