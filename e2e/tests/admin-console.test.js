// The admin console in a real browser: seats against the plan, kicking a stuck login, a
// skill group in use, reports with their Excel export, the audit log.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Kefu, PASSWORD, browser, eventually } from '../lib/kefu.js'

describe('admin console', () => {
  let kefu, chromium, page, operator, admin, im

  before(async () => {
    kefu = await Kefu.start()
    chromium = await browser()
    operator = await kefu.login('operator', PASSWORD, null)
    // A buyer writes, so that there are messages to search; the API login is given back
    // for the console's.
    const api = await kefu.login('admin')
    im = await kefu.im(api)
    await api.post('/api/v1/auth/logout')
    await im.importBuyer('buyer_msg', '查消息的买家')
    await im.say('buyer_msg', '我要退款，订单号 9988')
    const context = await chromium.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', acceptDownloads: true })
    page = await context.newPage()
    page.on('dialog', (d) => void d.accept())
  })

  after(async () => {
    await chromium?.close()
    await kefu?.stop()
  })

  // What the server holds, read with the console's own token (a second login of the same
  // account would be refused: one live login per account).
  const asConsole = async (path) => {
    const token = await page.evaluate(() => sessionStorage.getItem('kefu.admin.token'))
    const r = await fetch(`${kefu.url}${path}`, { headers: { authorization: `Bearer ${token}` } })
    return await r.json()
  }
  const confirmBox = () => page.locator('.el-message-box').getByRole('button', { name: '确定' }).click()

  it('shows the plan and explains why no seat can be added at the cap', async () => {
    await page.goto(`${kefu.url}/admin/login`)
    await page.fill('input[name=tenant]', 'demo')
    await page.fill('input[name=username]', 'admin')
    await page.fill('input[name=password]', PASSWORD)
    await page.click('[data-test=login]')
    await page.locator('[data-test=seats]').getByText('agent1').waitFor()
    assert.equal((await page.locator('[data-test=plan]').textContent()).trim(), '坐席 2 / 2，在线 0 / 2')
    assert.equal(await page.locator('[data-test=add-seat]').isDisabled(), true)
    await page.locator('[data-test=at-cap]').getByText('已达套餐坐席上限（2 个）').waitFor()
  })

  it('adds a seat once the operator raises the plan, showing its password once', async () => {
    const tenant = (await operator.get('/api/v1/platform/tenants')).find((x) => x.code === 'demo')
    await operator.patch(`/api/v1/platform/tenants/${tenant.id}`, { max_accounts: 3 })
    await page.reload()
    await page.locator('[data-test=plan]').getByText('坐席 2 / 3').waitFor()
    await page.click('[data-test=add-seat]')
    await page.fill('input[name=seat-username]', 'agent3')
    await page.fill('input[name=seat-display-name]', '客服小张')
    await page.click('[data-test=save-seat]')
    const password = await eventually('the initial password', async () => page.locator('[data-test=initial-password]').inputValue())
    await page.click('[data-test=close-password]')
    await page.locator('[data-test=seats]').getByText('客服小张').waitFor()
    const agent3 = await kefu.login('agent3', password)
    assert.equal(agent3.account.must_change_password, true)
    assert.equal(await page.locator('[data-test=add-seat]').isDisabled(), true, 'the plan is full again')
    admin = agent3
  })

  it('kicks a stuck login after a confirmation', async () => {
    await page.click('[data-test=menu-logins]')
    await page.locator('[data-test=logins]').getByText('agent3').waitFor()
    await page.click('[data-test=kick-agent3]')
    await confirmBox()
    await page.getByText('已剔除 1 个登录').waitFor()
    const r = await fetch(`${kefu.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${admin.token}` } })
    assert.equal(r.status, 401)
  })

  it('disables and deletes the seat', async () => {
    await page.click('[data-test=menu-seats]')
    await page.click('[data-test=toggle-agent3]')
    await confirmBox()
    await page.locator('[data-test=seats] tr').filter({ hasText: 'agent3' }).getByText('已禁用').waitFor()
    await page.click('[data-test=delete-agent3]')
    await confirmBox()
    await page.locator('[data-test=seats]').getByText('agent3').waitFor({ state: 'detached' })
  })

  it('says why a skill group in use cannot be deleted', async () => {
    await page.click('[data-test=menu-groups]')
    await page.click('[data-test="delete-group-售前咨询"]')
    await confirmBox()
    // The refusal names the service flow that still transfers to the group.
    const alert = page.locator('.el-message-box').filter({ hasText: '默认服务流程' })
    await alert.waitFor()
    await alert.getByRole('button', { name: '确定' }).click()
  })

  it('shows a report with its totals and exports it to Excel', async () => {
    await page.click('[data-test=menu-reports]')
    await page.locator('[data-test=report-table]').getByText('合计').waitFor()
    const [file] = await Promise.all([page.waitForEvent('download'), page.click('[data-test=export-report]')])
    assert.equal(file.suggestedFilename(), 'workload.xlsx')
    const bytes = readFileSync(await file.path())
    assert.equal(bytes.subarray(0, 2).toString(), 'PK', 'an xlsx is a zip')
    // 分时统计: one row per hour of the day.
    await page.click('[data-test=report-name]')
    await page.locator('.el-select-dropdown__item').filter({ hasText: '分时统计' }).click()
    await page.locator('[data-test=report-table]').getByText('23:00-24:00').waitFor()
    assert.equal(await page.locator('[data-test=report-table] .el-table__body tr').count(), 25, '24 hours and the totals')
  })

  it('changes the service settings and the sensitive words', async () => {
    const api = await kefu.login('admin').catch(() => null)
    assert.equal(api, null, 'the console holds the admin login')
    await page.click('[data-test=menu-settings]')
    await page.fill('[data-test=welcome-message]', '您好，这里是演示商城客服')
    await page.click('[data-test=categories-required]')
    await page.click('[data-test=save-settings]')
    await page.getByText('已保存').first().waitFor()
    await page.fill('[data-test=new-word] input, input[data-test=new-word]', '违禁词样例')
    await page.click('[data-test=add-word]')
    await page.click('[data-test=save-words]')
    await page.locator('[data-test=words]').getByText('违禁词样例').waitFor()
    const settings = await asConsole('/api/v1/settings/service')
    assert.equal(settings.welcome_message, '您好，这里是演示商城客服')
    assert.equal(settings.categories_required, true)
    const words = await asConsole('/api/v1/sensitive-words')
    assert.ok(words.words.some((w) => w.word === '违禁词样例' && w.action === 'block'))
  })

  it('edits the knowledge tree: add, nest, find, delete', async () => {
    await page.click('[data-test=menu-trees]')
    await page.click('[data-test=knowledge-add-root]')
    await page.fill('input[name=tree-name]', '物流话术')
    await page.click('[data-test=knowledge-save]')
    const tree = page.locator('[data-test=knowledge-tree]')
    await tree.getByText('物流话术').waitFor()
    await tree.locator('.el-tree-node__content').filter({ hasText: '物流话术' }).getByRole('button', { name: '添加子项' }).click()
    await page.fill('input[name=tree-name]', '催发货')
    await page.fill('textarea[name=tree-answer]', '已为您催促仓库尽快发货。')
    await page.click('[data-test=knowledge-save]')
    await tree.getByText('催发货').waitFor()
    await page.fill('input[data-test=knowledge-search]', '仓库')
    await page.keyboard.press('Enter')
    await eventually('the search to narrow the tree', async () => (await tree.locator('.el-tree-node').count()) === 1)
    await page.click('[data-test="delete-催发货"]')
    await confirmBox()
    await tree.getByText('催发货').waitFor({ state: 'detached' })
  })

  it('keeps the working hours and the IM app', async () => {
    await page.click('[data-test=menu-schedule]')
    await eventually('the demo holiday in the form', async () =>
      (await page.locator('[data-test=schedule] input').evaluateAll((els) => els.map((e) => e.value))).some((v) => v.includes('国庆')),
    )
    await page.click('[data-test=save-schedule]')
    await page.getByText('已保存').first().waitFor()
    await page.click('[data-test=menu-app]')
    const app = await asConsole('/api/v1/im-app')
    assert.equal((await page.locator('[data-test=sdkappid]').textContent()).trim(), String(app.sdk_app_id))
    await page.fill('input[data-test=callback-url]', 'https://shop.example.com/im-callback')
    await page.click('[data-test=save-app]')
    await eventually('the callback URL saved', async () => (await asConsole('/api/v1/im-app')).callback_url === 'https://shop.example.com/im-callback')
  })

  it('lets the platform operator manage tenants and their plans', async () => {
    const context = await chromium.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' })
    const op = await context.newPage()
    await operator.post('/api/v1/auth/logout')
    await op.goto(`${kefu.url}/admin/login`)
    await op.fill('input[name=tenant]', '')
    await op.fill('input[name=username]', 'operator')
    await op.fill('input[name=password]', PASSWORD)
    await op.click('[data-test=login]')
    await op.locator('[data-test=tenants]').getByText('Demo Supplier').waitFor()
    await op.click('[data-test=add-tenant]')
    await op.fill('input[name=tenant-code]', 'acme')
    await op.fill('input[name=tenant-name]', 'Acme 供应商')
    await op.fill('input[name=tenant-admin]', 'boss')
    await op.click('[data-test=create-tenant]')
    await op.locator('.el-message-box').getByText('管理员初始密码').waitFor()
    await op.locator('.el-message-box').getByRole('button', { name: '确定' }).click()
    await op.locator('[data-test=tenants]').getByText('Acme 供应商').waitFor()
    await context.close()
  })

  it('searches messages in Chinese and opens the transcript', async () => {
    await page.click('[data-test=menu-messages]')
    await page.fill('input[data-test=message-text]', '退款')
    await page.click('[data-test=search-messages]')
    const hit = page.locator('[data-test=message-hits] tr').filter({ hasText: '订单号 9988' })
    await hit.waitFor()
    await hit.getByRole('button', { name: '会话记录' }).click()
    const dialog = page.locator('.el-dialog').filter({ hasText: 'buyer_msg' })
    await dialog.getByText('我要退款，订单号 9988').waitFor()
    // The bot's welcome is in the same conversation.
    await dialog.getByText('机器人', { exact: false }).first().waitFor()
    await page.keyboard.press('Escape')
  })

  it('lists the audit log', async () => {
    await page.click('[data-test=menu-audit]')
    await page.locator('[data-test=audit]').getByText('kick', { exact: false }).first().waitFor()
  })
})
