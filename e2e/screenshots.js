// Takes the screenshots in docs/screenshots/ from a real Kefu with the demo tenant:
// `npm run screenshots --workspace e2e` (after `npm run build` and `cargo build -p kefu`).
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { Kefu, PASSWORD, ROOT, browser, eventually } from './lib/kefu.js'

const out = join(ROOT, 'docs', 'screenshots')
mkdirSync(out, { recursive: true })
const kefu = await Kefu.start()
const chromium = await browser()
try {
  const admin = await kefu.login('admin')
  const plan = await admin.get('/api/v1/schedule')
  await admin.put('/api/v1/schedule', { ...plan, enabled: false })
  const im = await kefu.im(admin)

  const context = await chromium.newContext({ viewport: { width: 1440, height: 860 }, locale: 'zh-CN' })
  await context.grantPermissions(['notifications'], { origin: kefu.url })
  const page = await context.newPage()
  page.on('dialog', (d) => void d.accept())
  await page.goto(`${kefu.url}/agent/login`)
  await page.fill('input[name=username]', 'agent1')
  await page.screenshot({ path: join(out, 'agent-login.png') })
  await page.fill('input[name=password]', PASSWORD)
  await page.click('[data-test=login]')
  await page.click('[data-test=status]')
  await page.getByText('排队 0 人').waitFor()

  const buyers = [
    ['buyer_zhang', '张先生', ['人工', '你好，我上周买的电饭煲还没发货', '订单号是 DEMO-1001']],
    ['buyer_chen', '陈女士', ['RG', '这款耳机有现货吗']],
  ]
  for (const [id, nick, lines] of buyers) {
    await im.importBuyer(id, nick)
    for (const line of lines) await im.say(id, line)
  }
  const first = page.locator('[data-test=conversation-buyer_zhang]')
  await first.waitFor()
  await first.click()
  const box = page.locator('[data-test=composer]')
  await box.fill('您好，很高兴为您服务，正在为您查询订单，请稍等。')
  await box.press('Enter')
  await page.locator('[data-test=orders][data-state=ready]').waitFor()
  await page.locator('[data-test^=send-order-]').first().click()
  await eventually('the card', async () => (await page.locator('[data-test=messages] [data-test=card]').count()) > 0)
  await im.say('buyer_zhang', '好的，谢谢')
  await page.locator('[data-test=messages]').getByText('好的，谢谢').waitFor()
  await page.waitForTimeout(500)
  await page.screenshot({ path: join(out, 'agent-desk.png') })

  await page.click('[data-test=open-quick]')
  await page.locator('[data-test="quick-稍等查询"]').waitFor()
  await page.screenshot({ path: join(out, 'agent-quick-replies.png') })
  await page.click('[data-test=open-quick]')

  await page.click('[data-test=open-end]')
  await page.locator('.el-dialog:has-text("结束会话") .el-cascader').click()
  await page.locator('.el-cascader-node').filter({ hasText: '售前咨询' }).click()
  await page.waitForTimeout(300)
  await page.screenshot({ path: join(out, 'agent-end.png') })
  await page.keyboard.press('Escape')
  await page.locator('.el-dialog:has-text("结束会话")').getByRole('button', { name: '取消' }).click()
  await page.locator('.el-dialog:has-text("结束会话")').waitFor({ state: 'hidden' })

  await page.setViewportSize({ width: 390, height: 844 })
  await page.waitForTimeout(300)
  await page.screenshot({ path: join(out, 'agent-phone.png') })
  await page.setViewportSize({ width: 1440, height: 860 })

  // The buyer side: the demo shop with the widget open, and the chat page on a phone.
  const shopContext = await chromium.newContext({ viewport: { width: 1280, height: 820 }, locale: 'zh-CN' })
  const shop = await shopContext.newPage()
  await shop.goto(`${kefu.url}/demo/`)
  await shop.selectOption('[data-test=buyer]', 'buyer_li')
  await shop.click('[data-test=contact]')
  const widget = shop.frameLocator('iframe[title="在线客服"]')
  await widget.locator('[data-test="menu-开具发票"]').first().click()
  await widget.getByText('电子发票', { exact: false }).first().waitFor()
  await shop.waitForTimeout(300)
  await shop.screenshot({ path: join(out, 'buyer-shop.png') })
  const link = await (await fetch(`${kefu.url}/demo/link?buyer=buyer_wang`)).json()
  const phone = await (await chromium.newContext({ viewport: { width: 390, height: 760 }, locale: 'zh-CN' })).newPage()
  await phone.goto(`${kefu.url}${link.url}`)
  await phone.locator('[data-test=human]').click()
  await page.locator('[data-test=conversation-buyer_wang]').click()
  await page.locator('[data-test=orders][data-state=ready]').waitFor()
  await page.locator('[data-test^=send-order-]').first().click()
  await phone.locator('[data-test=card]').waitFor()
  await page.locator('[data-test=open-end]').click()
  await page.click('[data-test=end-submit]')
  await page.locator('.el-message-box').getByRole('button', { name: '确定' }).click()
  await phone.locator('[data-test=rating-card]').last().waitFor()
  await phone.locator('[data-test=rate-104]').last().click()
  await phone.waitForTimeout(300)
  await phone.screenshot({ path: join(out, 'buyer-phone.png') })
  // The admin console: seats against the plan, and a report with its chart.
  const adminPage = await (await chromium.newContext({ viewport: { width: 1440, height: 860 }, locale: 'zh-CN' })).newPage()
  await adminPage.goto(`${kefu.url}/admin/login`)
  await adminPage.fill('input[name=username]', 'admin')
  await adminPage.fill('input[name=password]', PASSWORD)
  await admin.post('/api/v1/auth/logout')
  await adminPage.click('[data-test=login]')
  await adminPage.locator('[data-test=seats]').getByText('agent1').waitFor()
  await adminPage.screenshot({ path: join(out, 'admin-seats.png') })
  await adminPage.click('[data-test=menu-reports]')
  await adminPage.locator('[data-test=report-table]').getByText('合计').waitFor()
  await adminPage.waitForTimeout(800)
  await adminPage.screenshot({ path: join(out, 'admin-reports.png') })
  // Today's quality overview: the queue over the day and each agent's state.
  await adminPage.click('[data-test=report-name]')
  await adminPage.locator('.el-select-dropdown__item').filter({ hasText: '工作质量概览' }).click()
  await adminPage.locator('[data-test=quality-chart] canvas').first().waitFor()
  await adminPage.waitForTimeout(800)
  await adminPage.screenshot({ path: join(out, 'admin-quality.png') })
  // The service-flow editor: the diagram above a form per node.
  await adminPage.click('[data-test=menu-flows]')
  await adminPage.click('[data-test="edit-flow-默认服务流程"]')
  await adminPage.locator('[data-test=flow-valid]').waitFor()
  await adminPage.waitForTimeout(800)
  await adminPage.screenshot({ path: join(out, 'admin-flow.png') })
  console.log(`screenshots written to ${out}`)
} finally {
  await chromium.close()
  await kefu.stop()
}
