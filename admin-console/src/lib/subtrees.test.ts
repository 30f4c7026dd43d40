import { describe, expect, it } from 'vitest'
import { nextGroups, uses } from './subtrees'

describe('a group using subtrees', () => {
  it('adds the group unless the subtree is already for it or for everyone', () => {
    expect(nextGroups([2], 1, true, [1, 2, 3])).toEqual([1, 2])
    expect(nextGroups([1], 1, true, [1, 2, 3])).toEqual([1])
    expect(nextGroups([], 1, true, [1, 2, 3])).toEqual([])
  })

  it('takes the group away, turning "everyone" into the other groups', () => {
    expect(nextGroups([1, 2], 1, false, [1, 2, 3])).toEqual([2])
    expect(nextGroups([], 1, false, [1, 2, 3])).toEqual([2, 3])
    expect(nextGroups([2], 1, false, [1, 2, 3])).toEqual([2])
  })

  it('cannot leave a subtree with no group, which would mean every group', () => {
    expect(nextGroups([1], 1, false, [1, 2])).toBeNull()
    expect(nextGroups([], 1, false, [1])).toBeNull()
  })

  it('counts an empty list as every group', () => {
    const root = { id: 1, name: '退货', position: 0, skill_group_ids: [] as number[], created_at: 0, updated_at: 0 }
    expect(uses(root as never, 7)).toBe(true)
    expect(uses({ ...root, skill_group_ids: [3] } as never, 7)).toBe(false)
  })
})
