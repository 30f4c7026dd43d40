// A buyer on the demo shop: the widget's chat page against a real Kefu, with an agent in the
// console on the other side.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { Kefu, PNG, agentPage, browser, eventually } from '../lib/kefu.js'

describe('buyer chat', () => {
  let kefu, chromium, admin, im, shop, chat, agent, provider, providerUrl
  let mode = 'malformed'

  before(async () => {
    kefu = await Kefu.start()
    chromium = await browser(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'])
    admin = await kefu.login('admin')
    const plan = await admin.get('/api/v1/schedule')
    await admin.put('/api/v1/schedule', { ...plan, enabled: false })
    im = await kefu.im(admin)
    // agent1 takes one buyer at a time, so that a second one waits in the queue.
    const agent1 = (await admin.get('/api/v1/accounts')).find((a) => a.username === 'agent1')
    for (const g of await admin.get('/api/v1/skill-groups'))
      if (agent1.skill_group_ids.includes(g.id)) await admin.put(`/api/v1/skill-groups/${g.id}/members/${agent1.id}/cap`, { cap: 1 })
    // An order provider that misbehaves on demand.
    provider = createServer((req, res) => {
      if (mode === 'slow') setTimeout(() => res.end('{"orders":[]}'), 4000)
      else res.end('this is not json')
    })
    await new Promise((r) => provider.listen(0, '127.0.0.1', r))
    providerUrl = `http://127.0.0.1:${provider.address().port}/orders`
  })

  after(async () => {
    await chromium?.close()
    await kefu?.stop()
    provider?.close()
  })

  const messages = () => chat.locator('[data-test=messages]')

  it('opens the chat from the demo shop and answers from the FAQ', async () => {
    const context = await chromium.newContext({ viewport: { width: 1280, height: 860 }, locale: 'zh-CN' })
    await context.grantPermissions(['microphone'], { origin: kefu.url })
    shop = await context.newPage()
    await shop.goto(`${kefu.url}/demo/`)
    await shop.selectOption('[data-test=buyer]', 'buyer_li')
    await shop.click('[data-test=contact]')
    chat = shop.frameLocator('iframe[title="在线客服"]')
    // The welcome and the FAQ menu of the demo's service flow.
    await messages().locator('[data-test=menu]').first().waitFor()
    await chat.locator('[data-test="menu-运费怎么算？"]').first().click()
    await messages().getByText('包邮', { exact: false }).first().waitFor()
  })

  it('waits in the queue with its position, then meets the agent', async () => {
    agent = await agentPage(chromium, kefu, 'agent1')
    await agent.click('[data-test=status]')
    await agent.getByText('排队 0 人').waitFor()
    // Another buyer takes agent1's only slot.
    await im.importBuyer('buyer_first', '先到的买家')
    await im.say('buyer_first', '人工')
    await agent.locator('[data-test=conversation-buyer_first]').waitFor()
    await chat.locator('[data-test=human]').click()
    // The demo flow's queue text, with the number of buyers ahead.
    await messages().getByText('当前排队人数为0', { exact: false }).waitFor()
    // agent1 finishes with the first buyer; the waiting one is next.
    await agent.locator('[data-test=conversation-buyer_first]').click()
    await agent.click('[data-test=open-end]')
    await agent.click('[data-test=end-submit]')
    await agent.locator('.el-message-box').getByRole('button', { name: '确定' }).click()
    await messages().getByText('客服小王', { exact: false }).waitFor()
    await agent.locator('[data-test=conversation-buyer_li]').click()
    // The hosted page says it is the web channel; the console shows that icon.
    const li = (await admin.get('/api/v1/conversations?scope=all')).find((c) => c.buyer === 'buyer_li')
    assert.equal(li.channel, 'web')
    await agent.locator('[data-test=conversation-buyer_li] .channel.web').waitFor()
  })

  it('exchanges text and an image with the agent', async () => {
    const input = chat.locator('[data-test=input]')
    await input.fill('我想问一下发票的事')
    await input.press('Enter')
    await agent.locator('[data-test=messages]').getByText('我想问一下发票的事').waitFor()
    await agent.locator('[data-test=composer]').fill('可以开具增值税专用发票')
    await agent.locator('[data-test=composer]').press('Enter')
    await messages().getByText('可以开具增值税专用发票').waitFor()
    await chat.locator('[data-test=image-input]').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: PNG })
    await agent.locator('[data-test=messages] [data-test=image]').waitFor()
    await messages().locator('[data-test=image]').waitFor()
  })

  it('sees the agent typing', async () => {
    await agent.locator('[data-test=composer]').type('正在')
    await chat.locator('[data-test=typing]').waitFor()
    await agent.locator('[data-test=composer]').fill('')
  })

  it('records and sends a voice message', async () => {
    await chat.locator('[data-test=voice-button]').click()
    await chat.getByText('正在录音', { exact: false }).waitFor()
    await new Promise((r) => setTimeout(r, 1200))
    await chat.locator('[data-test=voice-button]').click()
    await agent.locator('[data-test=messages] [data-test=voice]').waitFor()
    await messages().locator('[data-test=voice]').waitFor()
  })

  it('receives an order card the agent sends from the orders panel', async () => {
    await agent.locator('[data-test=orders][data-state=ready]').waitFor()
    await agent.locator('[data-test^=send-order-]').first().click()
    const card = messages().locator('[data-test=card]')
    await card.waitFor()
    assert.match(await card.getAttribute('href'), /\/demo\/orders\//)
  })

  it('comes back after 10 s without a connection with every message, in order', async () => {
    await kefu.kill()
    await chat.locator('[data-test=offline]').waitFor()
    await new Promise((r) => setTimeout(r, 10_000))
    await kefu.launch()
    // The agent's console reconnects too; what it sends meanwhile must reach the buyer.
    await agent.locator('[data-test=offline]').waitFor({ state: 'detached', timeout: 30_000 })
    for (const n of ['一', '二', '三']) {
      await agent.locator('[data-test=composer]').fill(`断线后的第${n}条`)
      await agent.locator('[data-test=composer]').press('Enter')
    }
    await chat.locator('[data-test=offline]').waitFor({ state: 'detached', timeout: 30_000 })
    await messages().getByText('断线后的第三条').waitFor()
    const texts = await messages().locator('.text').allTextContents()
    const got = texts.filter((x) => x.startsWith('断线后的'))
    assert.deepEqual(got, ['断线后的第一条', '断线后的第二条', '断线后的第三条'])
    const seqs = await messages().locator('[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)))
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'messages in seq order')
  })

  it('rates the session after the agent ends it', async () => {
    await agent.click('[data-test=open-end]')
    await agent.click('[data-test=end-submit]')
    await agent.locator('.el-message-box').getByRole('button', { name: '确定' }).click()
    const card = messages().locator('[data-test=rating-card]').last()
    await card.waitFor()
    await card.locator('[data-test=rate-105]').click()
    await card.locator('[data-test=rate-submit]').click()
    await messages().locator('[data-test=rating-card][data-state=done]').waitFor()
    const conversations = await admin.get('/api/v1/conversations?scope=all')
    const mine = conversations.find((c) => c.buyer === 'buyer_li')
    const sessions = await admin.get(`/api/v1/conversations/${mine.id}/sessions`)
    assert.equal(sessions[sessions.length - 1].rating, 5)
  })

  it('shows a bad, then a slow, order provider as a retryable error', async () => {
    await im.say('buyer_first', '人工')
    const item = agent.locator('[data-test=conversation-buyer_first]').first()
    await agent.locator('[data-test=conversation-buyer_first][data-state=assigned]').waitFor()
    const demo = await admin.get('/api/v1/order-provider')
    await admin.put('/api/v1/order-provider', { url: providerUrl })
    await item.click()
    await agent.locator('[data-test=orders][data-state=failed]').waitFor()
    mode = 'slow'
    await agent.click('[data-test=orders-retry]')
    await agent.locator('[data-test=orders][data-state=loading]').waitFor()
    await agent.locator('[data-test=orders][data-state=failed]').waitFor({ timeout: 10_000 })
    assert.match(await agent.locator('[data-test=orders-error]').textContent(), /3 seconds/)
    await admin.put('/api/v1/order-provider', { url: demo.url })
    await agent.click('[data-test=orders-retry]')
    await agent.locator('[data-test=orders][data-state=ready]').waitFor()
  })
})
