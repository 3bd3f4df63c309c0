// The register at the door (templates/attendance/register.html).
//
// Without this script the page is a plain form: "Save draft", "Check and submit", and "set all"
// buttons that post it. With it:
// - every change is sent at once to the draft endpoint (views.register_draft) as JSON;
// - until the server has it, the change is kept in this tab's sessionStorage, so a lost
//   connection, a reload or a sign-in in between loses nothing; it is sent when the connection
//   returns (the `online` event, and a retry with back-off);
// - the save state is always said in words: saved, saving, waiting to send, signed out;
// - "set all", the live counts and the "not yet marked" filter work without a reload.
// The server decides what is valid; this script only keeps and sends what was entered.

const FIELDS = ['status', 'id_checked', 'arrived_at', 'reason', 'participation_note']
const NOT_IN_THE_ROOM = new Set(['absent', 'excused'])
const NEEDS_ARRIVAL = new Set(['attended', 'late_refused', 'left_early', 'removed'])
const RETRY_SECONDS = [2, 5, 10, 20, 30]

export function initRegister (form) {
  const sessionId = form.dataset.appRegister
  const draftUrl = form.dataset.draftUrl
  const storageKey = `diversion:register:${sessionId}`
  const stateLine = document.querySelector('[data-app-save-state]')
  const countsLine = document.querySelector('[data-app-counts]')
  const filterLink = document.querySelector('[data-app-filter]')
  const labels = {}
  form.querySelectorAll('[data-app-set-all]').forEach((button) => {
    labels[button.dataset.appSetAll] = button.textContent.trim().toLowerCase()
  })
  const rows = new Map()
  form.querySelectorAll('[data-app-row]').forEach((row) => rows.set(row.dataset.appRow, row))

  let pending = loadPending()
  const refused = new Set()
  let sending = false
  let again = false
  let retries = 0
  let retryTimer = null
  let lastFailure = null // why the last send did not arrive, until one does
  let stateName = ''

  // Reading and writing a row ------------------------------------------------------------------
  function field (row, name) {
    return form.elements.namedItem(`${row.dataset.appRow}-${name}`)
  }

  function readRow (row) {
    const ref = row.dataset.appRow
    const checked = row.querySelector(`input[name="${ref}-status"]:checked`)
    return {
      reference: ref,
      status: checked ? checked.value : '',
      id_checked: field(row, 'id_checked').checked,
      arrived_at: field(row, 'arrived_at').value,
      reason: field(row, 'reason').value,
      participation_note: field(row, 'participation_note').value
    }
  }

  function writeRow (row, line) {
    const ref = row.dataset.appRow
    row.querySelectorAll(`input[name="${ref}-status"]`).forEach((radio) => {
      radio.checked = radio.value === line.status
    })
    field(row, 'id_checked').checked = Boolean(line.id_checked)
    for (const name of ['arrived_at', 'reason', 'participation_note']) {
      field(row, name).value = line[name] || ''
    }
    row.dataset.status = line.status || ''
  }

  function same (a, b) {
    return FIELDS.every((name) => (a[name] || '') === (b[name] || ''))
  }

  // Kept in this tab until the server has it ---------------------------------------------------
  function loadPending () {
    try {
      return JSON.parse(window.sessionStorage.getItem(storageKey) || '{}') || {}
    } catch (error) {
      return {}
    }
  }

  function keepPending () {
    try {
      if (Object.keys(pending).length) {
        window.sessionStorage.setItem(storageKey, JSON.stringify(pending))
      } else {
        window.sessionStorage.removeItem(storageKey)
      }
    } catch (error) {
      // Storage full or refused: the changes stay in this page until they are sent.
    }
  }

  // What the person sees -----------------------------------------------------------------------
  function plural (count, one, many) {
    return `${count} ${count === 1 ? one : many}`
  }

  function showState (name, html) {
    if (!stateLine) return
    // Announce a change of state once, not every keystroke's "saving".
    if (name === stateName && name !== 'problems') return
    stateName = name
    stateLine.className = `app-register__state app-register__state--${name}`
    stateLine.innerHTML = html
  }

  function showSaveState (failure) {
    const waiting = Object.keys(pending).filter((ref) => !refused.has(ref)).length
    const changes = plural(waiting, 'change', 'changes')
    if (failure === 'signed-out') {
      showState('signed-out', `You have been signed out. ${changes} kept on this device. ` +
        `<a class="govuk-link" href="${form.dataset.signInUrl}">Sign in again</a> to send them.`)
    } else if (failure === 'locked') {
      showState('signed-out', 'This register has been submitted, so it cannot be changed here. ' +
        `<a class="govuk-link" href="${window.location.pathname}">Reload the page</a> to see it.`)
    } else if (failure === 'offline') {
      showState('waiting', `Waiting to send ${changes}: there is no connection. They are kept ` +
        'on this device and will be sent when the connection returns.')
    } else if (refused.size) {
      showState('problems', `${plural(refused.size, 'person needs', 'people need')} ` +
        'attention: see the messages in red.')
    } else if (waiting) {
      showState('saving', 'Saving…')
    } else {
      showState('saved', 'All changes saved.')
    }
  }

  function showProblem (row, messages) {
    const line = row.querySelector('[data-app-row-problem]')
    if (!line) return
    line.hidden = !messages
    line.textContent = messages ? `Not saved: ${messages}` : ''
    row.classList.toggle('app-register__row--error', Boolean(messages))
  }

  function showCounts () {
    if (!countsLine) return
    const counts = {}
    let unmarked = 0
    rows.forEach((row) => {
      const status = row.dataset.status
      if (status) counts[status] = (counts[status] || 0) + 1
      else unmarked += 1
    })
    const parts = Object.keys(labels).filter((s) => counts[s]).map((s) => `${counts[s]} ${labels[s]}`)
    parts.push(unmarked ? `${unmarked} not yet marked` : 'everyone marked')
    countsLine.textContent = parts.join(' · ')
  }

  // Sending ------------------------------------------------------------------------------------
  function csrfToken () {
    const input = form.querySelector('input[name="csrf_token"]')
    return input ? input.value : ''
  }

  function scheduleRetry () {
    if (retryTimer) return
    const seconds = RETRY_SECONDS[Math.min(retries, RETRY_SECONDS.length - 1)]
    retries += 1
    retryTimer = window.setTimeout(() => { retryTimer = null; send() }, seconds * 1000)
  }

  async function send () {
    const lines = Object.values(pending).filter((line) => !refused.has(line.reference))
    if (!lines.length) { showSaveState(); return }
    if (sending) { again = true; return }
    sending = true
    showSaveState()
    let failure = null
    try {
      const response = await window.fetch(draftUrl, {
        method: 'POST',
        credentials: 'same-origin',
        redirect: 'manual',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'X-CSRFToken': csrfToken()
        },
        body: JSON.stringify({ lines })
      })
      if (response.ok) {
        const body = await response.json()
        for (const line of lines) {
          const row = rows.get(line.reference)
          const problems = body.problems[line.reference]
          if (problems) {
            refused.add(line.reference)
            if (row) showProblem(row, Object.values(problems).join('; '))
          } else if (body.saved.includes(line.reference)) {
            if (row) showProblem(row, '')
            // A change made while this one travelled stays to be sent.
            if (pending[line.reference] && same(pending[line.reference], line)) {
              delete pending[line.reference]
            }
          }
        }
        keepPending()
        retries = 0
        document.dispatchEvent(new CustomEvent('app:activity'))
      } else if (response.status === 401 || response.status === 400 ||
                 response.type === 'opaqueredirect') {
        failure = 'signed-out'
      } else if (response.status === 409) {
        failure = 'locked'
      } else {
        failure = 'offline'
      }
    } catch (error) {
      failure = 'offline' // no connection: fetch itself failed
    }
    sending = false
    lastFailure = failure
    showSaveState(failure)
    if (failure === 'offline') scheduleRetry()
    if (again && !failure) { again = false; send() }
  }

  // Changes ------------------------------------------------------------------------------------
  let textTimer = null

  function changed (row, { soon = true } = {}) {
    const line = readRow(row)
    row.dataset.status = line.status
    pending[line.reference] = line
    refused.delete(line.reference)
    keepPending()
    showCounts()
    // Say at once that a change is waiting: "All changes saved" must never be shown over a
    // change still to be sent (a typed reason waits 800 ms for the next keystroke).
    showSaveState(lastFailure)
    window.clearTimeout(textTimer)
    if (soon) send()
    else textTimer = window.setTimeout(send, 800)
  }

  function statusChosen (row, radio) {
    const status = radio.value
    if (NOT_IN_THE_ROOM.has(status)) {
      // Nobody's ID is checked, nor arrival kept, for someone who did not come in.
      field(row, 'id_checked').checked = false
      field(row, 'arrived_at').value = ''
    }
    if (!NEEDS_ARRIVAL.has(status)) field(row, 'arrived_at').value = ''
    const needs = (radio.dataset.needs || '').split(' ').filter(Boolean)
    const more = row.querySelector('details')
    if (needs.length && more) more.open = true
  }

  form.addEventListener('change', (event) => {
    const row = event.target.closest('[data-app-row]')
    if (!row) return
    if (event.target.type === 'radio') statusChosen(row, event.target)
    changed(row)
  })
  form.addEventListener('input', (event) => {
    const row = event.target.closest('[data-app-row]')
    if (row && (event.target.type === 'text' || event.target.tagName === 'TEXTAREA')) {
      changed(row, { soon: false })
    }
  })

  form.querySelectorAll('[data-app-set-all]').forEach((button) => {
    button.addEventListener('click', (event) => {
      event.preventDefault()
      const choice = button.dataset.appSetAll
      let count = 0
      rows.forEach((row) => {
        const line = readRow(row)
        if (choice === 'id_checked') {
          if (!line.id_checked && !NOT_IN_THE_ROOM.has(line.status)) {
            field(row, 'id_checked').checked = true
            changed(row, { soon: false })
            count += 1
          }
        } else if (!line.status) {
          const radio = row.querySelector(`input[name="${line.reference}-status"][value="${choice}"]`)
          radio.checked = true
          statusChosen(row, radio)
          changed(row, { soon: false })
          count += 1
        }
      })
      window.clearTimeout(textTimer)
      send()
      if (!count) showState('nothing', 'Nobody to change: everyone is already marked.')
    })
  })

  if (filterLink) {
    // The server may have sent the page filtered (?show=unmarked): the marked rows are hidden.
    let onlyUnmarked = filterLink.dataset.appFilter === 'on'
    filterLink.addEventListener('click', (event) => {
      event.preventDefault()
      onlyUnmarked = !onlyUnmarked
      let shown = 0
      rows.forEach((row) => {
        row.hidden = onlyUnmarked && Boolean(row.dataset.status)
        if (!row.hidden) shown += 1
      })
      filterLink.textContent = onlyUnmarked
        ? `Show everyone (${plural(shown, 'person', 'people')} not yet marked shown)`
        : 'Show only people not yet marked'
    })
  }

  form.addEventListener('submit', (event) => {
    const button = event.submitter
    if (button && button.dataset.appSetAll) return
    if (Object.keys(pending).length && !navigator.onLine) {
      event.preventDefault()
      showSaveState('offline')
      stateLine.setAttribute('tabindex', '-1')
      stateLine.focus()
    }
  })

  window.addEventListener('online', () => { retries = 0; send() })

  // Start: what this tab kept and the server has not got yet goes back on the page and is sent.
  for (const [ref, line] of Object.entries(pending)) {
    const row = rows.get(ref)
    if (!row) continue
    if (same(readRow(row), line)) continue
    writeRow(row, line)
  }
  // Someone no longer on the register (their booking ended) has nothing left to send.
  pending = Object.fromEntries(Object.entries(pending).filter(([ref]) => rows.has(ref)))
  keepPending()
  showCounts()
  if (Object.keys(pending).length) send()
  else showState('saved', 'Changes are saved as you make them.')
}

export function forgetSubmittedRegister (marker) {
  // A submitted register takes no more changes: what a tab still kept for it is dropped.
  try {
    window.sessionStorage.removeItem(`diversion:register:${marker.dataset.appRegisterSubmitted}`)
  } catch (error) {
    // Nothing kept.
  }
}
