// The agent console at scale: 50 open conversations, one of them 5,000 messages long.
// Prints figures; asserts nothing. `npm run bench --workspace e2e` (after `npm run build` and
// `cargo build -p kefu`; a release binary via E2E_KEFU_BIN gives server figures closer to
// production, the browser side does not change).
import { Kefu, agentPage, browser, eventually } from './lib/kefu.js'

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 5000)
const CONVERSATIONS = 50
const kefu = await Kefu.start({ KEFU_IM_RATE_LIMIT: '0' })
const chromium = await browser()
const ms = (x) => `${x.toFixed(1)} ms`
try {
  const admin = await kefu.login('admin')
  const plan = await admin.get('/api/v1/schedule')
  await admin.put('/api/v1/schedule', { ...plan, enabled: false })
  for (const g of await admin.get('/api/v1/skill-groups')) await admin.patch(`/api/v1/skill-groups/${g.id}`, { agent_cap: 100 })
  const im = await kefu.im(admin)
  const page = await agentPage(chromium, kefu, 'agent1')
  await page.click('[data-test=status]')
  await page.getByText('排队 0 人').waitFor()

  // 50 buyers ask for a human; the first gets a long history.
  const buyers = Array.from({ length: CONVERSATIONS }, (_, i) => `bench_${String(i).padStart(2, '0')}`)
  for (const b of buyers) await im.importBuyer(b, b)
  for (const b of buyers) await im.say(b, '人工')
  await eventually('50 conversations in the list', async () => (await page.locator('[data-test^=conversation-bench_]').count()) === CONVERSATIONS, 60_000)
  const long = buyers[0]
  const t0 = Math.floor(Date.now() / 1000) - MESSAGES
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < MESSAGES; i = next++) {
        const fromBuyer = i % 2 === 0
        await im.call('openim/importmsg', {
          SyncFromOldSystem: 1,
          From_Account: fromBuyer ? long : im.service,
          To_Account: fromBuyer ? im.service : long,
          MsgRandom: 1_000_000 + i,
          MsgTimeStamp: t0 + i,
          MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: `第 ${i} 条历史消息：${'示例文字'.repeat(1 + (i % 7))}` } }],
        })
      }
    }),
  )
  console.log(`imported ${MESSAGES} messages in ${((performance.now() - started) / 1000).toFixed(1)} s`)

  // Open the long conversation and page back through all of it, ten at a time.
  let opened = performance.now()
  await page.locator(`[data-test=conversation-${long}]`).click()
  await page.locator('[data-test=messages] [data-role]').first().waitFor()
  const openMs = performance.now() - opened
  opened = performance.now()
  let pages = 0
  while ((await page.locator('[data-test=load-more]').count()) > 0) {
    const before = await page.locator('[data-test=messages] [data-role]').first().getAttribute('data-test')
    await page.click('[data-test=load-more]')
    await page.waitForFunction(
      (was) => {
        const first = document.querySelector('[data-test=messages] [data-role]')
        return !document.querySelector('[data-test=load-more]') || (first && first.getAttribute('data-test') !== was)
      },
      before,
      { polling: 'raf' },
    )
    pages++
  }
  const pagingMs = performance.now() - opened

  // Scroll the whole history top to bottom in 200 steps, one per frame, timing the frames.
  const scroll = await page.evaluate(async () => {
    const el = document.querySelector('[data-test=messages]')
    const frames = []
    let last = performance.now()
    const rowsSeen = []
    for (let i = 0; i <= 200; i++) {
      el.scrollTop = (el.scrollHeight - el.clientHeight) * (i / 200)
      await new Promise((r) => requestAnimationFrame(r))
      const now = performance.now()
      frames.push(now - last)
      last = now
      rowsSeen.push(el.querySelectorAll('[data-role]').length)
    }
    frames.sort((a, b) => a - b)
    const mem = performance.memory ? performance.memory.usedJSHeapSize : 0
    return {
      p50: frames[Math.floor(frames.length * 0.5)],
      p95: frames[Math.floor(frames.length * 0.95)],
      max: frames[frames.length - 1],
      rows: Math.max(...rowsSeen),
      heapMb: mem / 1024 / 1024,
    }
  })
  // Switching among the 50 conversations.
  const switching = []
  for (const b of buyers.slice(1, 21)) {
    const t = performance.now()
    await page.locator(`[data-test=conversation-${b}]`).click()
    await page.locator('[data-test=chat-buyer]').getByText(b).waitFor()
    await page.locator('[data-test=messages] [data-role]').first().waitFor()
    switching.push(performance.now() - t)
  }
  switching.sort((a, b) => a - b)
  console.log(`agent console, ${CONVERSATIONS} open conversations, one of ${MESSAGES} messages:`)
  console.log(`  open the long conversation (newest 10): ${ms(openMs)}`)
  console.log(`  page back through it: ${pages} pages of 10 in ${(pagingMs / 1000).toFixed(1)} s (${ms(pagingMs / Math.max(1, pages))} a page)`)
  console.log(`  scroll the whole history in 200 frames: frame p50 ${ms(scroll.p50)}, p95 ${ms(scroll.p95)}, max ${ms(scroll.max)}`)
  console.log(`  message rows in the DOM at most: ${scroll.rows} (virtualized); JS heap ${scroll.heapMb.toFixed(1)} MB`)
  console.log(`  switch conversation (20 switches): p50 ${ms(switching[10])}, max ${ms(switching[19])}`)
} finally {
  await chromium.close()
  await kefu.stop()
}
