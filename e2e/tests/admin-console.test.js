// The admin console in a real browser: seats against the plan, kicking a stuck login and a
// live agent console, a skill group in use, reports with the session list exported and read
// back, the knowledge base reaching an agent's quick replies, a holiday and its reply, the
// service-flow editor, the audit log.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { readSheet } from 'read-excel-file/node'
import { Kefu, PASSWORD, agentPage, browser, eventually } from '../lib/kefu.js'

// Today in the demo tenant's zone, as the time plan writes dates.
const TODAY = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date())
const textOf = (m) => m.MsgBody.map((e) => e.MsgContent?.Text ?? '').join('')

describe('admin console', () => {
  let kefu, chromium, page, operator, admin, im, agent

  before(async () => {
    kefu = await Kefu.start()
    chromium = await browser()
    operator = await kefu.login('operator', PASSWORD, null)
    // A buyer writes, so that there are messages to search; the API login is given back
    // for the console's.
    const api = await kefu.login('admin')
    im = await kefu.im(api)
    // Working hours are off (always open) unless a test says, whatever the time of the run.
    const plan = await api.get('/api/v1/schedule')
    await api.put('/api/v1/schedule', { ...plan, enabled: false })
    await api.post('/api/v1/auth/logout')
    await im.importBuyer('buyer_msg', '查消息的买家')
    await im.say('buyer_msg', '我要退款，订单号 9988')
    // One served session for the session list: agent1 online, the buyer asks for a human,
    // agent1 replies twice and ends it.
    const agent1 = await kefu.login('agent1')
    await agent1.put('/api/v1/me/status', { status: 'online' })
    await im.importBuyer('buyer_sess', '会话清单买家')
    await im.say('buyer_sess', '人工')
    const served = await eventually('the buyer assigned to agent1', async () =>
      (await agent1.get('/api/v1/conversations')).find((c) => c.buyer === 'buyer_sess' && c.state === 'assigned'),
    )
    for (const text of ['您好', '已为您处理']) {
      await agent1.post(`/api/v1/conversations/${served.id}/messages`, { msg_body: [{ MsgType: 'TIMTextElem', MsgContent: { Text: text } }] })
    }
    await agent1.post(`/api/v1/conversations/${served.id}/end`, {})
    await agent1.put('/api/v1/me/status', { status: 'suspended' })
    await agent1.post('/api/v1/auth/logout')
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

  it("chooses a group's knowledge-base subtrees from the group's side", async () => {
    await page.click('[data-test="edit-group-售前咨询"]')
    const afterSales = page.locator('[data-test="use-knowledge-售后话术"]')
    await afterSales.waitFor()
    assert.equal(await afterSales.locator('input').isChecked(), false, '售后话术 is 售后服务 only')
    const groups = await asConsole('/api/v1/skill-groups')
    const id = (name) => groups.find((g) => g.name === name).id
    const rootGroups = async () => (await asConsole('/api/v1/knowledge')).find((k) => k.title === '售后话术').skill_group_ids
    await afterSales.click()
    await eventually('售前咨询 added', async () => (await rootGroups()).join() === [id('售前咨询'), id('售后服务')].sort((a, b) => a - b).join())
    await eventually('the box checked', async () => await afterSales.locator('input').isChecked())
    await afterSales.click()
    await eventually('售前咨询 taken away', async () => (await rootGroups()).join() === String(id('售后服务')))
    await page.keyboard.press('Escape')
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
    // 工作质量概览: today by quarter hour, with the queue and agents' states drawn.
    await page.click('[data-test=report-name]')
    await page.locator('.el-select-dropdown__item').filter({ hasText: '工作质量概览' }).click()
    await page.locator('[data-test=quality-chart] canvas').first().waitFor()
    await page.locator('[data-test=report-table]').getByText('客服小王').waitFor()
  })

  it('exports the session list to Excel with the rows the server holds', async () => {
    await page.click('[data-test=report-name]')
    await page.locator('.el-select-dropdown__item').filter({ hasText: '会话清单' }).click()
    await page.locator('[data-test=report-table]').getByText('buyer_sess').waitFor()
    const [file] = await Promise.all([page.waitForEvent('download'), page.click('[data-test=export-report]')])
    assert.equal(file.suggestedFilename(), 'sessions.xlsx')
    const sheet = await readSheet(readFileSync(await file.path()))
    const q = new URL(page.url()).searchParams
    assert.equal(q.size, 0)
    const start = new Date()
    start.setHours(0, 0, 0, 0)
    const from = start.getTime() - 6 * 86_400_000
    const json = await asConsole(`/api/v1/reports/sessions?from=${from}&to=${start.getTime() + 86_400_000}`)
    assert.deepEqual(sheet[0], json.columns.map((c) => c.label), 'the header row')
    assert.equal(sheet.length, json.rows.length + 1, 'one row per session')
    const row = sheet.find((r) => r[0] === 'buyer_sess')
    const expected = json.rows.find((r) => r[0] === 'buyer_sess')
    assert.ok(row && expected, 'the served session is in both')
    json.columns.forEach((c, i) => {
      if (c.kind === 'time') {
        // A date-time cell, the same instant to the second.
        if (expected[i] === null) assert.equal(row[i], null)
        else assert.equal(Math.round(row[i].getTime() / 1000), Math.round(expected[i] / 1000), c.label)
      } else {
        assert.equal(row[i], expected[i], c.label)
      }
    })
    assert.equal(row[1], '客服小王')
    assert.equal(row[9], 2, 'two agent messages')
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
    await page.click('[data-test=tree-groups]')
    await page.locator('.el-select-dropdown__item:visible').filter({ hasText: '售前咨询' }).click()
    await page.keyboard.press('Escape')
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
    // Narrowed by creation date too: created today, not on 2020-01-01.
    const created = async (from, to) => {
      const range = page.locator('[data-test=knowledge-created]')
      await range.locator('.el-range-input').first().fill(from)
      await range.locator('.el-range-input').last().fill(to)
      await range.locator('.el-range-input').last().press('Enter')
      await page.keyboard.press('Escape')
      await page.locator('input[data-test=knowledge-search]').press('Enter')
    }
    const local = new Date()
    const today = `${local.getFullYear()}-${String(local.getMonth() + 1).padStart(2, '0')}-${String(local.getDate()).padStart(2, '0')}`
    await created('2020-01-01', '2020-01-01')
    await eventually('nothing created then', async () => (await tree.locator('.el-tree-node').count()) === 0)
    await created(today, today)
    await eventually('the entry created today', async () => (await tree.locator('.el-tree-node').count()) === 1)
    // agent1 (售前咨询) serves a buyer and finds the new entry among the quick replies.
    agent = await agentPage(chromium, kefu, 'agent1')
    await agent.click('[data-test=status]')
    await im.importBuyer('buyer_kb', '问物流的买家')
    await im.say('buyer_kb', '人工')
    await agent.locator('[data-test=conversation-buyer_kb]').click()
    await agent.click('[data-test=open-quick]')
    await agent.locator('[data-test="quick-催发货"]').click()
    assert.equal(await agent.locator('[data-test=composer]').inputValue(), '已为您催促仓库尽快发货。')
    await page.click('[data-test="delete-催发货"]')
    await confirmBox()
    await tree.getByText('催发货').waitFor({ state: 'detached' })
  })

  it("kicks an agent's live console login, which returns to the login page saying why", async () => {
    await page.click('[data-test=menu-logins]')
    await page.locator('[data-test=logins]').getByText('agent1').waitFor()
    await page.click('[data-test=kick-agent1]')
    await confirmBox()
    await agent.locator('[data-test=end-reason]').getByText('您的登录已被管理员剔除').waitFor()
    assert.equal(new URL(agent.url()).pathname, '/agent/login')
    await agent.context().close()
  })

  it('keeps the working hours and the IM app', async () => {
    await page.click('[data-test=menu-schedule]')
    await eventually('the demo holiday in the form', async () =>
      (await page.locator('[data-test=schedule] input').evaluateAll((els) => els.map((e) => e.value))).some((v) => v.includes('国庆')),
    )
    await page.click('[data-test=save-schedule]')
    await page.getByText('已保存').first().waitFor()
    // A holiday today with its reply: a new buyer gets the reply.
    await page.click('[data-test=schedule-enabled]')
    await page.click('[data-test=add-holiday]')
    const holiday = page.locator('[data-test=holiday]').last()
    await holiday.locator('input[data-test=holiday-name]').fill('临时休息')
    await holiday.locator('.el-range-input').first().fill(TODAY)
    await holiday.locator('.el-range-input').last().fill(TODAY)
    await holiday.locator('.el-range-input').last().press('Enter')
    await holiday.locator('input[data-test=holiday-reply]').fill('今日临时休息，明天为您服务')
    await page.click('[data-test=save-schedule]')
    await eventually('the holiday saved', async () => {
      const plan = await asConsole('/api/v1/schedule')
      return plan.enabled && plan.holidays.some((h) => h.name === '临时休息' && h.from === TODAY && h.to === TODAY)
    })
    await im.importBuyer('buyer_holiday', '假日买家')
    await im.say('buyer_holiday', '在吗')
    await eventually('the holiday reply', async () => (await im.chat('buyer_holiday')).some((m) => textOf(m) === '今日临时休息，明天为您服务'))
    // Taken out again, hours off, for the tests after.
    await holiday.getByRole('button', { name: '删除' }).click()
    await page.click('[data-test=schedule-enabled]')
    await page.click('[data-test=save-schedule]')
    await eventually('the holiday removed', async () => {
      const plan = await asConsole('/api/v1/schedule')
      return !plan.enabled && !plan.holidays.some((h) => h.name === '临时休息')
    })
    await page.click('[data-test=menu-app]')
    const app = await asConsole('/api/v1/im-app')
    assert.equal((await page.locator('[data-test=sdkappid]').textContent()).trim(), String(app.sdk_app_id))
    await page.fill('input[data-test=callback-url]', 'https://shop.example.com/im-callback')
    await page.click('[data-test=save-app]')
    await eventually('the callback URL saved', async () => (await asConsole('/api/v1/im-app')).callback_url === 'https://shop.example.com/im-callback')
    // The test callback says what happened: this host does not exist here.
    await page.click('[data-test=test-callback]')
    await page.locator('[data-test=test-result]').getByText('测试回调失败').waitFor()
    assert.match(await page.locator('[data-test=test-result]').textContent(), /Kefu\.CallbackTest/)
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

  it('edits the service flow: problems at their node, fixed, published and run for a new buyer', async () => {
    await page.click('[data-test=menu-flows]')
    await page.click('[data-test="edit-flow-默认服务流程"]')
    await page.locator('[data-test=flow-valid]').waitFor()
    await page.locator('[data-test=flow-graph] canvas').first().waitFor()
    // A new message node, empty and going nowhere: said next to it.
    await page.click('[data-test=add-node]')
    await page.locator('[data-test=node-error-message]').first().waitFor()
    assert.match(await page.locator('[data-test=node-message]').textContent(), /needs a text or an image/)
    await page.click('[data-test=save-flow]')
    await page.getByText(/流程有 \d+ 处问题/).first().waitFor()
    // welcome → message → faq
    await page.fill('textarea[data-test=node-text-message]', '双11活动：全场包邮')
    const pick = async (select, option) => {
      // One dropdown at a time: the last one's closing items match too.
      await eventually('no dropdown open', async () => (await page.locator('.el-select-dropdown__item:visible').count()) === 0)
      await page.click(`[data-test=${select}]`)
      await page.locator('.el-select-dropdown__item:visible').filter({ hasText: new RegExp(`^${option}$`) }).click()
    }
    await pick('node-next-message', 'faq')
    await pick('node-next-welcome', 'message')
    await page.locator('[data-test=flow-valid]').waitFor()
    assert.equal(await page.locator('[data-test=node-error-message]').count(), 0)
    await page.click('[data-test=publish-flow]')
    await confirmBox()
    await page.getByText('已发布 v2').waitFor()
    const flows = await asConsole('/api/v1/flows')
    assert.equal(flows[0].published_version, 2)
    assert.equal(flows[0].unpublished_changes, false)
    await im.importBuyer('buyer_flow', '新流程买家')
    await im.say('buyer_flow', '你好')
    await eventually('the published flow greeting a new buyer', async () => (await im.chat('buyer_flow')).some((m) => textOf(m) === '双11活动：全场包邮'))
  })

  it('lists the audit log', async () => {
    await page.click('[data-test=menu-audit]')
    await page.locator('[data-test=audit]').getByText('kick', { exact: false }).first().waitFor()
  })
})
