// The service flow (会话服务流) as the editor sees it: the node types the server runs
// (domain/src/flow.rs), their defaults, the edges between them and a layout for the diagram.

export interface Choice {
  name: string
  keywords: string[]
  next: string
}

export type FlowNode =
  | { id: string; type: 'start'; next: string }
  | { id: string; type: 'message'; text: string; image?: string; items?: string[]; next: string }
  | { id: string; type: 'branch'; text: string; error_prompt: string; max_retries: number; choices: Choice[]; on_fail?: string }
  | { id: string; type: 'bot'; faq_menu: boolean; human: string }
  | {
      id: string
      type: 'transfer'
      skill_group_id: number
      queue_message: string
      failure_message: string
      success_message: string
      next: string
    }
  | { id: string; type: 'end'; timeout_seconds: number; timeout_message: string; end_message: string }

export type NodeType = FlowNode['type']

/** Any node with every type's fields optional: what a form binds (readDraft fills them). */
export interface LooseNode {
  id: string
  type: NodeType
  next?: string
  text?: string
  image?: string
  items?: string[]
  error_prompt?: string
  max_retries?: number
  choices?: Choice[]
  on_fail?: string
  faq_menu?: boolean
  human?: string
  skill_group_id?: number
  queue_message?: string
  failure_message?: string
  success_message?: string
  timeout_seconds?: number
  timeout_message?: string
  end_message?: string
}
export const NODE_TYPES: NodeType[] = ['start', 'message', 'branch', 'bot', 'transfer', 'end']

export interface Draft {
  nodes: FlowNode[]
}

/** A new node of a type, with empty fields for the form to fill. */
export function newNode(type: NodeType, id: string): FlowNode {
  switch (type) {
    case 'start':
      return { id, type, next: '' }
    case 'message':
      return { id, type, text: '', items: [], next: '' }
    case 'branch':
      return { id, type, text: '', error_prompt: '', max_retries: 3, choices: [{ name: '', keywords: [], next: '' }] }
    case 'bot':
      return { id, type, faq_menu: true, human: '' }
    case 'transfer':
      return { id, type, skill_group_id: 0, queue_message: '', failure_message: '', success_message: '', next: '' }
    case 'end':
      return { id, type, timeout_seconds: 0, timeout_message: '', end_message: '' }
  }
}

/** The smallest flow that runs: a start straight to an end. */
export function emptyDraft(): Draft {
  return { nodes: [{ ...newNode('start', 'start'), next: 'end' } as FlowNode, newNode('end', 'end')] }
}

/** A draft from the server's JSON, with missing lists filled so the forms can bind them. */
export function readDraft(doc: unknown): Draft {
  const nodes = (doc as { nodes?: unknown })?.nodes
  if (!Array.isArray(nodes)) return { nodes: [] }
  return {
    nodes: nodes.map((n) => {
      const node = { ...newNode(n.type as NodeType, String(n.id ?? '')), ...n } as FlowNode
      if (node.type === 'branch') node.choices = (node.choices ?? []).map((c) => ({ ...c, keywords: c.keywords ?? [] }))
      return node
    }),
  }
}

/** The draft as the server takes it: optional fields left out when empty. */
export function writeDraft(d: Draft): Draft {
  return {
    nodes: d.nodes.map((n) => {
      const out: Record<string, unknown> = { ...n }
      if (n.type === 'message') {
        if (!n.image?.trim()) delete out.image
        if (!n.items?.length) delete out.items
      }
      if (n.type === 'branch' && !n.on_fail) delete out.on_fail
      return out as unknown as FlowNode
    }),
  }
}

export interface Edge {
  from: string
  to: string
  /** What takes this way: a choice's name, "on_fail", "human" or empty for "next". */
  label: string
}

/** Every link from a node to another, as the form fields name them. */
export function edges(d: Draft): Edge[] {
  const out: Edge[] = []
  for (const n of d.nodes) {
    const add = (to: string | undefined, label = '') => {
      if (to) out.push({ from: n.id, to, label })
    }
    switch (n.type) {
      case 'start':
      case 'message':
      case 'transfer':
        add(n.next)
        break
      case 'branch':
        for (const c of n.choices) add(c.next, c.name)
        add(n.on_fail, 'on_fail')
        break
      case 'bot':
        add(n.human, 'human')
        break
      case 'end':
        break
    }
  }
  return out
}

/** Columns by distance from the start (unreachable nodes last), rows in order within each. */
export function layout(d: Draft): Map<string, { x: number; y: number }> {
  const depth = new Map<string, number>()
  const start = d.nodes.find((n) => n.type === 'start')
  const links = edges(d)
  if (start) {
    depth.set(start.id, 0)
    const queue = [start.id]
    while (queue.length) {
      const at = queue.shift() as string
      for (const e of links.filter((l) => l.from === at)) {
        if (!depth.has(e.to) && d.nodes.some((n) => n.id === e.to)) {
          depth.set(e.to, (depth.get(at) ?? 0) + 1)
          queue.push(e.to)
        }
      }
    }
  }
  const deepest = Math.max(-1, ...depth.values())
  const rows = new Map<number, number>()
  const out = new Map<string, { x: number; y: number }>()
  for (const n of d.nodes) {
    const x = depth.get(n.id) ?? deepest + 1
    const y = rows.get(x) ?? 0
    rows.set(x, y + 1)
    out.set(n.id, { x, y })
  }
  return out
}

/** An id not yet used: `type`, `type_2`, `type_3`… */
export function freshId(d: Draft, type: NodeType): string {
  const used = new Set(d.nodes.map((n) => n.id))
  if (!used.has(type)) return type
  let i = 2
  while (used.has(`${type}_${i}`)) i++
  return `${type}_${i}`
}
