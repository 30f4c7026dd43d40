import { describe, expect, it } from 'vitest'
import { options, tree } from './tree'

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

describe('options', () => {
  it('nests named nodes as cascader options, leaves without children', () => {
    const rows = [
      { id: 1, parent_id: null, position: 0, name: '售后' },
      { id: 2, parent_id: 1, position: 0, name: '退货' },
    ]
    expect(options(tree(rows))).toEqual([{ value: 1, label: '售后', children: [{ value: 2, label: '退货', children: undefined }] }])
  })
})
