import { describe, expect, it } from 'vitest'
import { printable } from './print'

describe('printable', () => {
  it('escapes what buyers wrote and keeps Chinese text as is', () => {
    const html = printable('聊天记录 <b>', [{ who: '用户 · b1', time: '09:00', text: '你好 <script>x</script>' }])
    expect(html).toContain('聊天记录 &lt;b&gt;')
    expect(html).toContain('你好 &lt;script&gt;x&lt;/script&gt;')
    expect(html).not.toContain('<script>')
    expect(html).toContain('charset="utf-8"')
  })
})
