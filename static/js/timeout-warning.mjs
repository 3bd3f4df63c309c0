// The GOV.UK time-out warning for signed-in staff pages (WCAG 2.2.1, Timing adjustable).
//
// base.html renders the numbers on <body> (data-app-timeout-*) and the <dialog> itself. Two
// minutes (data-app-timeout-warning-seconds) before the sign-in ends, the dialog opens with a
// countdown; "Stay signed in" (or Escape) posts to the keep-alive endpoint. The 12-hour limit
// cannot be extended, and the dialog says so when it is that one ending.
//
// Every tab of the browser shares the time of the last request it knows of (localStorage), so
// one tab never signs out a person working in another. A page that talks to the server by
// fetch() dispatches `app:activity` on document after each successful call; that restarts the
// countdown too. When the time runs out the server is asked first (the status endpoint, which
// does not extend the sign-in); if it has ended and the page has a form with something entered
// in it, the form is kept on screen and "Sign in again" posts it, so the server holds it
// (auth.held) and offers it back after sign-in. Otherwise the person goes to the sign-in page.

const ACTIVITY_KEY = 'diversion.timeout.lastActivity'
const ABSOLUTE_KEY = 'diversion.timeout.absoluteEnd'
// Asked only after the server's own limit has surely passed (clocks and latency differ).
const GRACE_MS = 2000

function readNumber (value) {
  const number = Number(value)
  return Number.isFinite(number) ? number : null
}

function minutesAndSeconds (seconds) {
  const whole = Math.max(0, Math.ceil(seconds))
  const minutes = Math.floor(whole / 60)
  const rest = whole % 60
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`
  if (minutes && rest) return `${plural(minutes, 'minute')} ${plural(rest, 'second')}`
  if (minutes) return plural(minutes, 'minute')
  return plural(rest, 'second')
}

function storageGet (key) {
  try { return readNumber(window.localStorage.getItem(key)) } catch { return null }
}

function storageSet (key, value) {
  try { window.localStorage.setItem(key, String(value)) } catch { /* private mode: this tab only */ }
}

// A form the person has typed into: a post form (not the dialog's own, not the header's
// sign-out) with a control whose value differs from the one the page was loaded with.
function changedForm (dialog) {
  for (const form of document.querySelectorAll('form')) {
    if ((form.getAttribute('method') || '').toLowerCase() !== 'post') continue
    if (dialog.contains(form) || form.closest('.app-sign-out')) continue
    for (const control of form.elements) {
      if (control.disabled || !control.name) continue
      if (control.type === 'hidden' || control.type === 'submit' || control.type === 'button') continue
      if (control.type === 'checkbox' || control.type === 'radio') {
        if (control.checked !== control.defaultChecked) return form
      } else if (control.type === 'file') {
        if (control.files && control.files.length) return form
      } else if (control.tagName === 'SELECT') {
        for (const option of control.options) {
          if (option.selected !== option.defaultSelected) return form
        }
      } else if ('defaultValue' in control && control.value !== control.defaultValue) {
        return form
      }
    }
  }
  return null
}

export function initTimeoutWarning (body = document.body) {
  const dialog = document.querySelector('[data-app-timeout-dialog]')
  const data = body.dataset
  const idleMs = readNumber(data.appTimeoutIdleSeconds) * 1000
  const warningMs = readNumber(data.appTimeoutWarningSeconds) * 1000
  const absoluteLeft = readNumber(data.appTimeoutAbsoluteSecondsLeft)
  if (!dialog || !idleMs || !warningMs || absoluteLeft === null || typeof dialog.showModal !== 'function') {
    return null
  }
  const warning = dialog.querySelector('[data-app-timeout-warning]')
  const ended = dialog.querySelector('[data-app-timeout-ended]')
  const countdown = dialog.querySelector('[data-app-timeout-countdown]')
  const announce = dialog.querySelector('[data-app-timeout-announce]')
  const absoluteNote = dialog.querySelector('[data-app-timeout-absolute]')
  const stayButton = dialog.querySelector('[data-app-timeout-stay]')
  const closeButton = dialog.querySelector('[data-app-timeout-close]')
  const signInButton = dialog.querySelector('[data-app-timeout-sign-in]')
  const endedReason = dialog.querySelector('[data-app-timeout-ended-reason]')
  const csrfToken = dialog.querySelector('[data-app-timeout-csrf]')?.value || ''

  // The page's own request began at timeOrigin: the server saw it no earlier than that.
  const loadedAt = Math.round(performance.timeOrigin || Date.now())
  let lastActivity = Math.max(loadedAt, storageGet(ACTIVITY_KEY) || 0)
  let absoluteEnd = loadedAt + absoluteLeft * 1000
  storageSet(ACTIVITY_KEY, lastActivity)
  storageSet(ABSOLUTE_KEY, absoluteEnd)

  let state = 'idle' // idle | warning | checking | ended
  let returnFocusTo = null
  let lastAnnounced = null
  let dismissedAbsolute = false
  let checkAfter = 0

  const deadline = () => Math.min(lastActivity + idleMs, absoluteEnd)
  const absoluteIsEnding = () => absoluteEnd <= lastActivity + idleMs

  function noteActivity (at = Date.now()) {
    lastActivity = Math.max(lastActivity, at)
    storageSet(ACTIVITY_KEY, lastActivity)
    if (state === 'warning' && deadline() - Date.now() > warningMs) close()
  }

  function open () {
    if (!dialog.open) {
      returnFocusTo = document.activeElement
      warning.hidden = false
      ended.hidden = true
      dialog.setAttribute('aria-labelledby', 'app-timeout-heading')
      dialog.setAttribute('aria-describedby', 'app-timeout-text')
      const isAbsolute = absoluteIsEnding()
      absoluteNote.hidden = !isAbsolute
      stayButton.hidden = isAbsolute
      closeButton.hidden = !isAbsolute
      dialog.showModal()
      ;(isAbsolute ? closeButton : stayButton).focus()
      lastAnnounced = null
    }
    state = 'warning'
    update()
  }

  function close () {
    state = 'idle'
    if (dialog.open) dialog.close()
    if (returnFocusTo && typeof returnFocusTo.focus === 'function' && document.contains(returnFocusTo)) {
      returnFocusTo.focus()
    }
    returnFocusTo = null
    announce.textContent = ''
  }

  // The visible countdown changes every second (hidden from screen readers); the live region
  // speaks when the dialog opens, then at each whole minute and every 20 seconds in the last one.
  function update () {
    const seconds = Math.max(0, Math.ceil((deadline() - Date.now()) / 1000))
    countdown.textContent = minutesAndSeconds(seconds)
    const step = seconds > 60 ? Math.ceil(seconds / 60) * 60 : Math.ceil(seconds / 20) * 20
    if (seconds > 0 && (lastAnnounced === null || step < lastAnnounced)) {
      lastAnnounced = step
      announce.textContent = `For your security, we will sign you out in ${minutesAndSeconds(seconds)}.`
    }
  }

  async function askServer (url, options) {
    const response = await fetch(url, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'X-CSRFToken': csrfToken },
      ...options
    })
    if (response.status === 401) return { ended: true }
    if (!response.ok) throw new Error(`${url}: ${response.status}`)
    return { ended: false, times: await response.json() }
  }

  function adopt (times) {
    const now = Date.now()
    lastActivity = now - (idleMs - times.idle_seconds_left * 1000)
    absoluteEnd = now + times.absolute_seconds_left * 1000
    storageSet(ACTIVITY_KEY, lastActivity)
    storageSet(ABSOLUTE_KEY, absoluteEnd)
  }

  async function staySignedIn () {
    if (absoluteIsEnding()) { dismissedAbsolute = true; close(); return }
    try {
      const answer = await askServer(data.appTimeoutKeepAliveUrl, { method: 'POST' })
      if (answer.ended) { showEnded(); return }
      adopt(answer.times)
      close()
    } catch {
      // The network failed: keep the dialog; the countdown goes on and the person can retry.
    }
  }

  function signInUrl () {
    const next = window.location.pathname + window.location.search
    return `${data.appTimeoutSignInUrl}?next=${encodeURIComponent(next)}`
  }

  function showEnded () {
    state = 'ended'
    const form = changedForm(dialog)
    if (!form) {
      window.location.assign(signInUrl())
      return
    }
    if (!dialog.open) {
      returnFocusTo = document.activeElement
      dialog.showModal()
    }
    endedReason.textContent = absoluteIsEnding()
      ? 'For your security, we signed you out because you had been signed in for 12 hours.'
      : `For your security, we signed you out because you had not done anything for ${minutesAndSeconds(idleMs / 1000)}.`
    warning.hidden = true
    ended.hidden = false
    announce.textContent = ''
    dialog.setAttribute('aria-labelledby', 'app-timeout-ended-heading')
    dialog.setAttribute('aria-describedby', 'app-timeout-ended-text')
    signInButton.focus()
    signInButton.onclick = () => {
      // Not requestSubmit: no page script should stop it, and a field called "submit" must not
      // hide the method. The server keeps what is posted and asks the person to sign in.
      HTMLFormElement.prototype.submit.call(form)
    }
  }

  async function check () {
    state = 'checking'
    try {
      const answer = await askServer(data.appTimeoutStatusUrl, { method: 'GET' })
      if (answer.ended) { showEnded(); return }
      adopt(answer.times)
      state = dialog.open ? 'warning' : 'idle'
    } catch {
      state = dialog.open ? 'warning' : 'idle'
      checkAfter = Date.now() + 5000
    }
  }

  function tick () {
    if (state === 'ended' || state === 'checking') return
    const left = deadline() - Date.now()
    if (left <= -GRACE_MS) {
      if (Date.now() >= checkAfter) check()
    } else if (left <= warningMs) {
      if (!(dismissedAbsolute && absoluteIsEnding())) open()
      else if (state === 'warning') update()
    } else if (state === 'warning') {
      close()
    }
    if (state === 'warning') update()
  }

  stayButton.addEventListener('click', staySignedIn)
  closeButton.addEventListener('click', () => { dismissedAbsolute = true; close() })
  dialog.addEventListener('cancel', (event) => {
    // Escape means "stay signed in"; once signed out there is nothing to go back to.
    event.preventDefault()
    if (state === 'warning') staySignedIn()
  })
  document.addEventListener('app:activity', () => noteActivity())
  window.addEventListener('storage', (event) => {
    if (event.key === ACTIVITY_KEY) {
      const at = readNumber(event.newValue)
      if (at) noteActivity(at)
    } else if (event.key === ABSOLUTE_KEY) {
      const at = readNumber(event.newValue)
      if (at) absoluteEnd = at
    }
  })
  const timer = window.setInterval(tick, 1000)
  tick()
  return { tick, stop: () => window.clearInterval(timer) }
}
