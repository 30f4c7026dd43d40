// Which top-level knowledge-base, FAQ and category subtrees a skill group uses. The server
// keeps this on each top-level node (`skill_group_ids`, empty meaning every group); the
// group screen edits it from the group's side.
import { request, type Schemas } from '@kefu/shared/api'

export type TreeKind = 'knowledge' | 'faq' | 'categories'
export const TREE_KINDS: TreeKind[] = ['knowledge', 'faq', 'categories']
type Knowledge = Schemas['KnowledgeDto']
type TreeNode = Schemas['TreeNodeDto']
export type Root = Knowledge | TreeNode

export const rootLabel = (r: Root) => ('title' in r ? r.title : r.name)

/** Whether the group uses the subtree: named in it, or the subtree is for every group. */
export const uses = (r: Root, group: number) => (r.skill_group_ids ?? []).length === 0 || (r.skill_group_ids ?? []).includes(group)

/**
 * The subtree's groups once `group` uses it or not. `null` when it cannot be said: taking
 * the only group away would leave the list empty, which means every group.
 */
export function nextGroups(current: number[], group: number, use: boolean, all: number[]): number[] | null {
  if (use) return current.length === 0 || current.includes(group) ? current : [...current, group].sort((a, b) => a - b)
  const from = current.length === 0 ? all : current
  const left = from.filter((g) => g !== group)
  return left.length === 0 ? null : left
}

/** The top-level nodes of a tree. */
export async function roots(kind: TreeKind): Promise<Root[]> {
  const items = await request<Root[]>('GET', `/api/v1/${kind}`)
  return items.filter((i) => (i.parent_id ?? null) === null)
}

/** Saves a top-level node with new groups, the rest as it is. */
export async function setGroups(kind: TreeKind, r: Root, skill_group_ids: number[]): Promise<void> {
  const common = { parent_id: undefined, position: r.position, skill_group_ids }
  if ('title' in r) {
    const { title, answer_kind, answer, keywords, enabled, is_new, valid_from, valid_to } = r
    await request('PUT', `/api/v1/${kind}/${r.id}`, { title, answer_kind, answer, keywords, enabled, is_new, valid_from, valid_to, ...common })
  } else {
    await request('PUT', `/api/v1/${kind}/${r.id}`, { name: r.name, ...common })
  }
}
