import { describe, expect, it } from 'vitest'
import { edges, emptyDraft, freshId, layout, readDraft, writeDraft } from './flow'

// The demo flow as the server serves it (domain/src/flow.rs `demo`), with a branch added.
const doc = {
  nodes: [
    { id: 'start', type: 'start', next: 'menu' },
    { id: 'menu', type: 'branch', text: '请选择', choices: [{ name: '售前', keywords: ['买'], next: 'faq' }, { name: '售后', next: 'human' }] },
    { id: 'faq', type: 'bot', faq_menu: true, human: 'human' },
    { id: 'human', type: 'transfer', skill_group_id: 1, next: 'end' },
    { id: 'end', type: 'end', timeout_seconds: 600 },
    { id: 'orphan', type: 'message', text: 'hi', next: 'end' },
  ],
}

describe('flow drafts', () => {
  it('reads a draft, filling what the forms bind, and writes it back without empty options', () => {
    const d = readDraft(doc)
    const menu = d.nodes[1]
    expect(menu.type === 'branch' && menu.max_retries).toBe(3)
    expect(menu.type === 'branch' && menu.choices[1].keywords).toEqual([])
    const orphan = writeDraft(d).nodes[5] as unknown as Record<string, unknown>
    expect('items' in orphan || 'image' in orphan).toBe(false)
    expect(readDraft({}).nodes).toEqual([])
  })

  it('finds every link with what takes it', () => {
    expect(edges(readDraft(doc))).toEqual([
      { from: 'start', to: 'menu', label: '' },
      { from: 'menu', to: 'faq', label: '售前' },
      { from: 'menu', to: 'human', label: '售后' },
      { from: 'faq', to: 'human', label: 'human' },
      { from: 'human', to: 'end', label: '' },
      { from: 'orphan', to: 'end', label: '' },
    ])
  })

  it('lays nodes out by distance from the start, unreachable ones last', () => {
    const at = layout(readDraft(doc))
    expect(at.get('start')).toEqual({ x: 0, y: 0 })
    expect(at.get('faq')).toEqual({ x: 2, y: 0 })
    expect(at.get('human')).toEqual({ x: 2, y: 1 })
    expect(at.get('end')).toEqual({ x: 3, y: 0 })
    expect(at.get('orphan')).toEqual({ x: 4, y: 0 })
  })

  it('names new nodes without clashing', () => {
    const d = emptyDraft()
    expect(freshId(d, 'message')).toBe('message')
    expect(freshId(d, 'end')).toBe('end_2')
  })
})
