/** Builds a tree from flat rows with `parent_id` and `position`, children in order. */
export interface Node<T> {
  item: T
  children: Node<T>[]
}

export function tree<T extends { id: number; parent_id?: number | null; position: number }>(rows: T[]): Node<T>[] {
  const nodes = new Map<number, Node<T>>()
  for (const r of [...rows].sort((a, b) => a.position - b.position || a.id - b.id)) nodes.set(r.id, { item: r, children: [] })
  const roots: Node<T>[] = []
  for (const n of nodes.values()) {
    const parent = n.item.parent_id == null ? undefined : nodes.get(n.item.parent_id)
    if (parent) parent.children.push(n)
    else roots.push(n)
  }
  return roots
}

/** A cascader option (Element Plus) of a named tree node. */
export interface Option {
  value: number
  label: string
  children?: Option[]
}

/** The cascader options of named nodes, children nested. */
export function options<T extends { id: number; name: string }>(nodes: Node<T>[]): Option[] {
  return nodes.map((n) => ({
    value: n.item.id,
    label: n.item.name,
    children: n.children.length ? options(n.children) : undefined,
  }))
}
