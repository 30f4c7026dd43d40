// The agent console in a real browser against a real Kefu: two agents and a buyer who writes
// over the IM REST protocol.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Kefu, PNG, browser, eventually } from '../lib/kefu.js'

const BUYER = 'buyer_e2e'

describe('agent console', () => {
  let kefu, chromium, admin, im, agent1, agent2, page1, page2, conversationId
  const notificationsOf = (page) => page.evaluate(() => window.__notifications)

  before(async () => {
    kefu = await Kefu.start()
    chromium = await browser()
    admin = await kefu.login('admin')
    // The demo's hours would send buyers to "leave a message" at night; the test runs any time.
    const plan = await admin.get('/api/v1/schedule')
    await admin.put('/api/v1/schedule', { ...plan, enabled: false })
    im = await kefu.im(admin)
    await im.importBuyer(BUYER, '测试买家')
  })

  after(async () => {
    await chromium?.close()
    await kefu?.stop()
  })

  async function consolePage() {
    const context = await chromium.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' })
    await context.grantPermissions(['notifications'], { origin: kefu.url })
    // Record desktop notifications as the page creates them.
    await context.addInitScript(() => {
      window.__notifications = []
      const Real = window.Notification
      class Recorded extends Real {
        constructor(title, options) {
          super(title, options)
          window.__notifications.push({ title, body: options?.body ?? '' })
        }
      }
      Object.defineProperty(Recorded, 'permission', { get: () => Real.permission })
      Recorded.requestPermission = () => Real.requestPermission()
      window.Notification = Recorded
    })
    const page = await context.newPage()
    page.on('dialog', (d) => void d.accept())
    return page
  }

  async function logIn(page, username, password) {
    await page.goto(`${kefu.url}/agent/login`)
    await page.fill('input[name=tenant]', 'demo')
    await page.fill('input[name=username]', username)
    await page.fill('input[name=password]', password)
    await page.click('[data-test=login]')
  }

  it('forces a new password at first login', async () => {
    agent2 = (await admin.get('/api/v1/accounts')).find((a) => a.username === 'agent2')
    const reset = await admin.post(`/api/v1/accounts/${agent2.id}/reset-password`)
    page2 = await consolePage()
    await logIn(page2, 'agent2', reset.initial_password)
    await page2.getByText('首次登录请修改密码').waitFor()
    await page2.fill('input[name=old-password]', reset.initial_password)
    await page2.fill('input[name=new-password]', 'Agent2#new2026')
    await page2.fill('input[name=repeat-password]', 'Agent2#new2026x')
    await page2.click('[data-test=change-password]')
    await page2.getByText('两次输入的新密码不一致').waitFor()
    await page2.fill('input[name=repeat-password]', 'Agent2#new2026')
    await page2.click('[data-test=change-password]')
    await page2.locator('[data-test=status]').waitFor()
    assert.equal(new URL(page2.url()).pathname, '/agent/')
  })

  it('logs in, starts suspended and goes online', async () => {
    page1 = await consolePage()
    await logIn(page1, 'agent1', 'Demo#e2e2026')
    await page1.locator('[data-test=status]').waitFor()
    agent1 = await kefu.login('agent1').catch(() => null)
    // One live login per account: the console holds it, so read the status as the admin.
    assert.equal(agent1, null)
    const before = await admin.get('/api/v1/conversations?scope=all')
    assert.equal(before.length, 0)
    await page1.click('[data-test=status]')
    await eventually('agent1 online', async () =>
      (await page1.locator('[data-test=status] input').isChecked()) ? true : null,
    )
    await page1.getByText('排队 0 人').waitFor()
  })

  it('alerts the agent of a new buyer, who stays in the list after being opened', async () => {
    await im.say(BUYER, '人工')
    const item = page1.locator(`[data-test=conversation-${BUYER}]`)
    await item.waitFor()
    await item.locator('[data-test=badge-new]').waitFor()
    const notes = await eventually('a desktop notification', async () => {
      const n = await notificationsOf(page1)
      return n.length ? n : null
    })
    assert.equal(notes[0].title, '有新用户接入')
    assert.equal(notes[0].body, BUYER)
    await item.click()
    await item.locator('[data-test=badge-new]').waitFor({ state: 'detached' })
    await page1.locator('[data-test=messages]').getByText('人工', { exact: true }).waitFor()
    conversationId = (await admin.get('/api/v1/conversations?scope=all'))[0].id
  })

  it('shows what the buyer writes as it arrives', async () => {
    await im.say(BUYER, '我的订单还没有发货')
    await page1.locator('[data-test=messages]').getByText('我的订单还没有发货').waitFor()
  })

  it('replies with text (Enter sends, Ctrl+Enter is a new line)', async () => {
    const box = page1.locator('[data-test=composer]')
    await box.fill('您好')
    await box.press('Control+Enter')
    await box.type('马上为您查询')
    await box.press('Enter')
    await eventually('the reply reaching the buyer', async () =>
      (await im.chat(BUYER)).some((m) => m.MsgBody[0]?.MsgContent?.Text === '您好\n马上为您查询'),
    )
    assert.equal(await box.inputValue(), '')
  })

  it('replies with an image, refusing what is not JPEG or PNG', async () => {
    const input = page1.locator('[data-test=image-input]')
    await input.setInputFiles({ name: 'note.txt', mimeType: 'image/png', buffer: Buffer.from('not an image') })
    await page1.getByText('只能发送 JPEG 或 PNG 图片').waitFor()
    await input.setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG })
    await page1.locator('[data-test=messages] [data-test=image]').waitFor()
    await eventually('the image reaching the buyer', async () =>
      (await im.chat(BUYER)).some((m) => m.MsgBody[0]?.MsgType === 'TIMImageElem'),
    )
  })

  it('fills the input from a quick reply without sending it', async () => {
    await page1.click('[data-test=open-quick]')
    await page1.locator('[data-test="quick-稍等查询"]').click()
    const box = page1.locator('[data-test=composer]')
    assert.equal(await box.inputValue(), '好的，正在为您查询，请稍等片刻。')
    const sent = (await im.chat(BUYER)).length
    await page1.click('[data-test=send]')
    await eventually('the quick reply sent', async () => (await im.chat(BUYER)).length === sent + 1)
  })

  it('shows the buyer and their orders', async () => {
    await page1.locator('[data-test=buyer-info]').getByText('测试买家').waitFor()
    await page1.locator('[data-test=orders][data-state=ready]').waitFor()
    const first = page1.locator('[data-test^=send-order-]').first()
    await first.click()
    await page1.getByText('订单卡片已发送').waitFor()
    await eventually('the order card reaching the buyer', async () =>
      (await im.chat(BUYER)).some((m) => m.MsgBody[0]?.MsgType === 'TIMCustomElem' && m.MsgBody[0].MsgContent.Data.includes('"22"')),
    )
  })

  it('shows an offline banner while the server is down, then misses nothing', async () => {
    await kefu.kill()
    await page1.locator('[data-test=offline]').waitFor()
    await kefu.launch()
    await im.say(BUYER, '重启后的第一条')
    await im.say(BUYER, '重启后的第二条')
    await page1.locator('[data-test=offline]').waitFor({ state: 'detached', timeout: 30_000 })
    const pane = page1.locator('[data-test=messages]')
    await pane.getByText('重启后的第二条').waitFor()
    await pane.getByText('重启后的第一条').waitFor()
  })

  it('transfers the buyer to the second agent', async () => {
    await page2.click('[data-test=status]')
    await eventually('agent2 online', async () => ((await page2.locator('[data-test=status] input').isChecked()) ? true : null))
    await page1.click('[data-test=open-transfer]')
    await page1.click('[data-test=transfer-agent-agent2]')
    await page1.fill('[data-test=transfer-note]', '买家询问发货')
    await page1.click('[data-test=transfer-submit]')
    await page1.locator(`[data-test=conversation-${BUYER}][data-state=gone]`).waitFor()
    const item = page2.locator(`[data-test=conversation-${BUYER}]`)
    await item.locator('[data-test=badge-new]').waitFor()
    await item.click()
    await page2.locator('[data-test=messages]').getByText('马上为您查询').waitFor()
  })

  it('ends the conversation with a category', async () => {
    await page2.click('[data-test=open-end]')
    await page2.locator('.el-dialog:has-text("结束会话") .el-cascader').click()
    await page2.locator('.el-cascader-node').filter({ hasText: '售前咨询' }).click()
    await page2.locator('.el-cascader-node').filter({ hasText: '库存与发货时间' }).locator('.el-checkbox').click()
    await page2.keyboard.press('Escape')
    await page2.click('[data-test=end-submit]')
    await page2.locator('.el-message-box').getByRole('button', { name: '确定' }).click()
    await page2.locator('[data-test=chat-closed]').waitFor()
    const sessions = await admin.get(`/api/v1/conversations/${conversationId}/sessions`)
    const last = sessions.find((s) => s.end_reason === 'agent_ended') ?? sessions[sessions.length - 1]
    const categories = await admin.get('/api/v1/categories')
    const shipping = categories.find((c) => c.name === '库存与发货时间')
    assert.deepEqual(last.categories, [shipping.id])
  })

  it('sends a kicked agent back to the login page, saying why', async () => {
    const agent1Account = (await admin.get('/api/v1/accounts')).find((a) => a.username === 'agent1')
    await admin.post(`/api/v1/accounts/${agent1Account.id}/kick`)
    await page1.locator('[data-test=end-reason]').getByText('您的登录已被管理员剔除').waitFor()
    assert.equal(new URL(page1.url()).pathname, '/agent/login')
  })
})
