import { describe, expect, it } from 'vitest'
import { clock, imageProblem, merge, parts, preview, timeMarks } from './messages'

const t = (k: string) => k

describe('parts', () => {
  it('reads text, images by format, voice and cards', () => {
    const body = [
      { MsgType: 'TIMTextElem', MsgContent: { Text: '你好' } },
      {
        MsgType: 'TIMImageElem',
        MsgContent: {
          ImageFormat: 3,
          ImageInfoArray: [
            { Type: 1, URL: '/o.png' },
            { Type: 2, URL: '/l.png' },
            { Type: 3, URL: '/t.png' },
          ],
        },
      },
      { MsgType: 'TIMImageElem', MsgContent: { ImageFormat: 2, ImageInfoArray: [{ Type: 1, URL: '/a.gif' }] } },
      { MsgType: 'TIMSoundElem', MsgContent: { Url: '/v.amr', Second: 4 } },
      {
        MsgType: 'TIMCustomElem',
        MsgContent: { Data: JSON.stringify({ src: '22', content: { header: '订单 1', desc: '¥9', pic: '', url: 'u' } }) },
      },
      {
        MsgType: 'TIMCustomElem',
        MsgContent: { Data: JSON.stringify({ src: 15, content: { header: '请选择', items: [{ content: '人工' }] } }) },
      },
      { MsgType: 'TIMCustomElem', MsgContent: { Data: '{"src":"19"}' } },
      { MsgType: 'TIMCustomElem', MsgContent: { Data: 'not json' } },
    ]
    const p = parts(body)
    expect(p[0]).toEqual({ kind: 'text', text: '你好' })
    expect(p[1]).toEqual({ kind: 'image', thumb: '/t.png', large: '/l.png', shown: true })
    expect(p[2]).toMatchObject({ kind: 'image', shown: false })
    expect(p[3]).toEqual({ kind: 'sound', url: '/v.amr', seconds: 4 })
    expect(p[4]).toMatchObject({ kind: 'card', title: '订单 1' })
    expect(p[5]).toEqual({ kind: 'menu', header: '请选择', items: ['人工'], tail: '' })
    expect(p[6]).toEqual({ kind: 'notice', key: 'notice.ended' })
    expect(p[7]).toMatchObject({ kind: 'other', key: 'part.custom' })
  })

  it('reads the rating card and the rating rules', () => {
    const card = {
      src: '9',
      menuContent: {
        head: '请评价',
        tail: '谢谢',
        type: 1,
        sessionId: '12',
        expireTime: 1800000000,
        menu: [
          { id: '101', content: '非常不满意' },
          { id: '105', content: '非常满意' },
        ],
      },
    }
    const [rating, rules] = parts([
      { MsgType: 'TIMCustomElem', MsgContent: { Data: JSON.stringify(card) } },
      { MsgType: 'TIMCustomElem', MsgContent: { Data: '{"src":"23","content":{"menuSendRuleFlag":5}}' } },
    ])
    expect(rating).toMatchObject({ kind: 'rating', sessionId: '12', expireTime: 1800000000, stars: true })
    expect(rating.kind === 'rating' && rating.choices[1]).toEqual({ id: '105', content: '非常满意' })
    expect(rules).toEqual({ kind: 'rules', flags: 5 })
  })

  it('is empty for a body that is not a list', () => {
    expect(parts(null)).toEqual([])
  })
})

describe('preview', () => {
  it('joins text on one line and names other kinds', () => {
    const body = [
      { MsgType: 'TIMTextElem', MsgContent: { Text: 'a\n b' } },
      { MsgType: 'TIMImageElem', MsgContent: { ImageFormat: 1, ImageInfoArray: [] } },
    ]
    expect(preview(body, t)).toBe('a b [part.image]')
  })
})

describe('timeMarks', () => {
  it('shows the time once per three minutes', () => {
    const m = [0, 60, 179, 180, 200, 400].map((s, i) => ({ seq: i + 1, msg_time: 1_000_000 + s }))
    expect([...timeMarks(m)]).toEqual([1, 4, 6])
  })
})

describe('merge', () => {
  it('orders by seq and drops repeats', () => {
    const a = [{ seq: 3 }, { seq: 4 }]
    expect(merge(a, [{ seq: 1 }, { seq: 4 }, { seq: 2 }]).map((m) => m.seq)).toEqual([1, 2, 3, 4])
  })
})

describe('imageProblem', () => {
  it('accepts JPEG and PNG up to 2 MB by content', async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0])
    expect(await imageProblem(new Blob([png]))).toBeNull()
    expect(await imageProblem(new Blob([new Uint8Array([0xff, 0xd8, 0xff, 0xe0])]))).toBeNull()
    expect(await imageProblem(new Blob(['GIF89a']))).toBe('image.notJpegOrPng')
    const big = new Uint8Array(2 * 1024 * 1024 + 1)
    big.set([0xff, 0xd8, 0xff])
    expect(await imageProblem(new Blob([big]))).toBe('image.tooLarge')
  })
})

describe('clock', () => {
  it('shows the date only for other days', () => {
    const now = new Date(2026, 10, 22, 15, 0)
    expect(clock(new Date(2026, 10, 22, 9, 5).getTime() / 1000, now)).toBe('09:05')
    expect(clock(new Date(2026, 10, 21, 9, 5).getTime() / 1000, now)).toBe('11-21 09:05')
    expect(clock(new Date(2025, 0, 2, 9, 5).getTime() / 1000, now)).toBe('2025-01-02 09:05')
  })
})
