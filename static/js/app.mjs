import { initAll } from '../govuk/govuk-frontend.min.js'
import { initTimeoutWarning } from './timeout-warning.mjs'

initAll()

// "Mark everyone" style buttons and print buttons declare their behaviour with data attributes,
// so pages need no inline script (the Content-Security-Policy forbids it).
document.querySelectorAll('[data-app-print]').forEach((button) => {
  button.addEventListener('click', () => window.print())
})

// Signed-in staff pages carry the time-out numbers on <body>; other pages have none.
if (document.body.dataset.appTimeoutIdleSeconds) {
  initTimeoutWarning()
}
