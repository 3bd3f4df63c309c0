import { initAll } from '../govuk/govuk-frontend.min.js'
import { forgetSubmittedRegister, initRegister } from './register.mjs'
import { initTimeoutWarning } from './timeout-warning.mjs'

initAll()

// "Mark everyone" style buttons and print buttons declare their behaviour with data attributes,
// so pages need no inline script (the Content-Security-Policy forbids it).
document.querySelectorAll('[data-app-print]').forEach((button) => {
  button.addEventListener('click', () => window.print())
})

document.querySelectorAll('form[data-app-register]').forEach(initRegister)
document.querySelectorAll('[data-app-register-submitted]').forEach(forgetSubmittedRegister)
// Signed-in staff pages carry the time-out numbers on <body>; other pages have none.
if (document.body.dataset.appTimeoutIdleSeconds) {
  initTimeoutWarning()
}
