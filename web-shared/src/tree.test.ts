import { describe, expect, it } from 'vitest'
import { tree } from './tree'

describe('tree', () => {
  it('nests by parent in position order; orphans become roots', () => {
    const rows = [
      { id: 1, parent_id: null, position: 2 },
      { id: 2, parent_id: null, position: 1 },
      { id: 3, parent_id: 1, position: 1 },
      { id: 4, parent_id: 1, position: 0 },
      { id: 5, parent_id: 99, position: 0 },
    ]
    const t = tree(rows)
    expect(t.map((n) => n.item.id)).toEqual([5, 2, 1])
    expect(t[2].children.map((n) => n.item.id)).toEqual([4, 3])
  })
})
