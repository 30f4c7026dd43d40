/*
 * Kefu chat widget: one <script> tag opens the hosted chat page in a panel.
 *
 *   <script src="https://kefu.example.com/chat/widget.js" async></script>
 *   <script>
 *     // With a link your back end signed (docs/protocol.md, "Signed buyer links"):
 *     window.kefu = window.kefu || []; kefu.push(['open', '/chat/acme?buyer=…&expires=…&sig=…'])
 *   </script>
 *
 * `KefuWidget.open(link)` shows the panel with that chat, `KefuWidget.close()` hides it. The
 * floating button reopens the last chat. Nothing here touches the page's own styles.
 */
(function () {
  if (window.KefuWidget) return
  var script = document.currentScript
  var base = script ? new URL(script.src, location.href).origin : location.origin
  var link = null
  var panel = null
  var frame = null

  function button() {
    var b = document.createElement('button')
    b.type = 'button'
    b.textContent = '在线客服'
    b.setAttribute('data-kefu', 'button')
    b.setAttribute('aria-label', '在线客服')
    b.style.cssText =
      'position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:24px;padding:12px 18px;' +
      'background:#165dff;color:#fff;font:15px system-ui,sans-serif;box-shadow:0 4px 14px rgba(0,0,0,.2);cursor:pointer;display:none'
    b.onclick = function () {
      if (link) open(link)
    }
    document.body.appendChild(b)
    return b
  }

  function ensurePanel() {
    if (panel) return
    panel = document.createElement('div')
    panel.setAttribute('data-kefu', 'panel')
    panel.style.cssText =
      'position:fixed;right:20px;bottom:20px;z-index:2147483001;width:380px;max-width:calc(100vw - 24px);height:600px;' +
      'max-height:calc(100vh - 40px);border-radius:12px;overflow:hidden;box-shadow:0 8px 30px rgba(0,0,0,.25);background:#fff'
    var close = document.createElement('button')
    close.type = 'button'
    close.textContent = '×'
    close.setAttribute('aria-label', 'close')
    close.setAttribute('data-kefu', 'close')
    close.style.cssText =
      'position:absolute;right:8px;top:6px;z-index:1;border:0;background:transparent;color:#fff;font:24px system-ui;cursor:pointer'
    close.onclick = hide
    frame = document.createElement('iframe')
    frame.title = '在线客服'
    frame.allow = 'microphone; clipboard-write'
    frame.style.cssText = 'width:100%;height:100%;border:0'
    panel.appendChild(close)
    panel.appendChild(frame)
    document.body.appendChild(panel)
  }

  var fab = null
  function open(url) {
    link = url
    ensurePanel()
    var target = new URL(url, base)
    // The page leaves room for the panel's close button.
    target.searchParams.set('embed', '1')
    var full = target.href
    if (frame.src !== full) frame.src = full
    panel.style.display = 'block'
    if (fab) fab.style.display = 'none'
  }

  function hide() {
    if (panel) panel.style.display = 'none'
    if (fab && link) fab.style.display = 'block'
  }

  function ready(f) {
    if (document.body) f()
    else document.addEventListener('DOMContentLoaded', f)
  }

  window.KefuWidget = {
    open: function (url) {
      ready(function () {
        open(url)
      })
    },
    close: hide,
  }
  ready(function () {
    fab = button()
    var queued = window.kefu || []
    for (var i = 0; i < queued.length; i++) if (queued[i][0] === 'open') open(queued[i][1])
    window.kefu = { push: function (c) { if (c[0] === 'open') open(c[1]) } }
  })
})()
