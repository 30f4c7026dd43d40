// The tenant API, typed from openapi/openapi.json (`npm run gen` writes schema.d.ts).
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

export type Schemas = components['schemas']
export type Account = Schemas['AccountDto']
export type Conversation = Schemas['ConversationDto']
export type Message = Schemas['MessageDto']
export type OnlineAgent = Schemas['OnlineAgentDto']
export type TreeNode = Schemas['TreeNodeDto']
export type Knowledge = Schemas['KnowledgeDto']
export type Order = Schemas['OrderDto']
export type Session = Schemas['SessionDto']
export type Buyer = Schemas['BuyerDto']
export type ErrorCode = Schemas['ErrorCode']

/** An API refusal: its code (never changes meaning) and the server's explanation. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'network',
    message: string,
  ) {
    super(message)
  }
}

let token: string | null = null
let onSessionEnded: (reason: 'expired') => void = () => {}

export function setToken(t: string | null) {
  token = t
}
export function getToken() {
  return token
}
/** Called when a request finds the login gone (expired, kicked or logged out elsewhere). */
export function whenSessionEnds(f: (reason: 'expired') => void) {
  onSessionEnded = f
}

const auth: Middleware = {
  onRequest({ request }) {
    if (token) request.headers.set('Authorization', `Bearer ${token}`)
    return request
  },
  onResponse({ response, request }) {
    if (response.status === 401 && token && !request.url.endsWith('/auth/login')) onSessionEnded('expired')
    return response
  },
}

export const api = createClient<paths>({ baseUrl: '' })
api.use(auth)

type Result<T> = { data?: T; error?: unknown; response: Response }

/** Unwraps an openapi-fetch result, turning a refusal into an ApiFailure. */
export async function call<T>(request: Promise<Result<T>>): Promise<T> {
  let result: Result<T>
  try {
    result = await request
  } catch {
    throw new ApiFailure(0, 'network', 'network')
  }
  if (result.error !== undefined || !result.response.ok) {
    const body = (result.error ?? {}) as { code?: ErrorCode; message?: string }
    throw new ApiFailure(result.response.status, body.code ?? 'internal', body.message ?? result.response.statusText)
  }
  return result.data as T
}

/** Uploads an image for sending; answers the `TIMImageElem` to put in `msg_body`. */
export async function uploadImage(file: Blob): Promise<unknown[]> {
  const form = new FormData()
  form.append('file', file)
  let response: Response
  try {
    response = await fetch('/im/media', { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } })
  } catch {
    throw new ApiFailure(0, 'network', 'network')
  }
  const body = await response.json()
  if (body.ActionStatus !== 'OK') throw new ApiFailure(response.status, 'validation_failed', body.ErrorInfo)
  return body.MsgBody
}

async function failure(r: Response): Promise<ApiFailure> {
  const b = (await r.json().catch(() => ({}))) as { code?: ErrorCode; message?: string }
  return new ApiFailure(r.status, b.code ?? 'internal', b.message ?? r.statusText)
}

/** Fetches a file the API serves (an Excel export, a template) and saves it as `filename`. */
export async function download(path: string, filename: string) {
  let r: Response
  try {
    r = await fetch(path, { headers: { Authorization: `Bearer ${token}` } })
  } catch {
    throw new ApiFailure(0, 'network', 'network')
  }
  if (!r.ok) throw await failure(r)
  const url = URL.createObjectURL(await r.blob())
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  a.click()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

/** Sends a file as the whole request body (`application/octet-stream`); answers the JSON. */
export async function postFile<T>(path: string, file: Blob): Promise<T> {
  let r: Response
  try {
    r = await fetch(path, {
      method: 'POST',
      body: file,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream' },
    })
  } catch {
    throw new ApiFailure(0, 'network', 'network')
  }
  if (!r.ok) throw await failure(r)
  return (await r.json()) as T
}

/** A call by method and path for screens that serve several routes of one shape (the tree
 *  editors); typed routes go through `api` instead. */
export async function request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  let r: Response
  try {
    r = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch {
    throw new ApiFailure(0, 'network', 'network')
  }
  if (r.status === 401 && token) onSessionEnded('expired')
  if (!r.ok) throw await failure(r)
  return (r.status === 204 ? undefined : await r.json()) as T
}
