import { initAll } from '../govuk/govuk-frontend.min.js'
import { forgetSubmittedRegister, initRegister } from './register.mjs'
import { initTimeoutWarning } from './timeout-warning.mjs'

initAll()

// GOV.UK Frontend marks radios with a conditional reveal aria-expanded, an attribute a radio may
// not carry (axe: aria-allowed-attr). The revealed field follows its radio in the page, so the
// attribute is taken off after each of Frontend's updates (its listeners run before these).
const dropRadioExpanded = () => {
  document.querySelectorAll('.govuk-radios__input[aria-expanded]').forEach((input) => {
    input.removeAttribute('aria-expanded')
  })
}
dropRadioExpanded()
document.addEventListener('click', dropRadioExpanded)
window.addEventListener('pageshow', dropRadioExpanded)

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
