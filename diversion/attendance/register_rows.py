"""The register form's rows (one person each: name, access needs, status buttons, "ID checked",
and the less common fields in a disclosure), made in Python rather than by a Jinja macro: the
same markup as the macro made (templates/attendance/register.html says where they go), each
value escaped once. A facilitator's register of twenty people made by the macro cost the page
more than everything else on it.

Field names are `<reference>-<field>`; static/js/register.mjs reads the same. The text input
and textarea are GOV.UK Frontend's markup written out (govukInput's and govukTextarea's)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from markupsafe import Markup, escape

from diversion.attendance.register import Line
from diversion.attendance.rules import AttendanceStatus
from diversion.core.timeutils import format_london

_ROW_FIELDS = ("reference", "status", "id_checked")
_ERROR_PREFIX = '<span class="govuk-visually-hidden">Error:</span> '


Choice = tuple[AttendanceStatus, str, str, str, str]


def _status_choices(statuses: Sequence[AttendanceStatus]) -> list[Choice]:
    """Each status with its id suffix and the rest of its radio and label, made once a page."""
    choices = []
    for index, status in enumerate(statuses, start=1):
        value = escape(status.value)
        choices.append((
            status, "" if index == 1 else f"-{index}",
            f'" value="{value}"\n               data-needs="{escape(" ".join(status.needs))}"',
            f'<label class="app-choice app-choice--{value}" for="',
            f'" title="{escape(status.hint)}">{escape(status.short_label)}</label>'))
    return choices


def _text_field(field_id: str, label: str, hint: str, value: str, message: str | None,
                width: str | None) -> str:
    error = (f'\n            <p id="{field_id}-error" class="govuk-error-message">{_ERROR_PREFIX}'
             f"{escape(message)}</p>") if message else ""
    classes = "govuk-input" + (f" {width}" if width else "") + (
        " govuk-input--error" if message else "")
    described = f"{field_id}-hint" + (f" {field_id}-error" if message else "")
    return f"""
          <div class="govuk-form-group{' govuk-form-group--error' if message else ''}">
            <label class="govuk-label govuk-label--s" for="{field_id}">{label}</label>
            <div id="{field_id}-hint" class="govuk-hint">{hint}</div>{error}
            <input class="{classes}" id="{field_id}" name="{field_id}" type="text" value="{escape(value)}" aria-describedby="{described}" autocomplete="off"{' inputmode="text"' if width else ''}>
          </div>"""  # noqa: E501


def _row(line: Line, choices: list[Choice],
         errors: Mapping[str, str], arrivals: Mapping[str, str], hidden: bool) -> str:
    ref = escape(line.reference)
    key = line.reference
    row_errors = [errors[f"{key}.{name}"] for name in _ROW_FIELDS if errors.get(f"{key}.{name}")]
    if key in arrivals:
        arrival = arrivals[key]
    else:
        arrival = format_london(line.arrived_at, "%H:%M") if line.arrived_at else ""
    needs_more = bool((line.status and line.status.needs) or arrival or line.reason
                      or line.participation_note or errors.get(f"{key}.arrived_at")
                      or errors.get(f"{key}.reason") or errors.get(f"{key}.participation_note"))
    name = escape(line.name)
    needs = ""
    if line.access_needs or line.needs_step_free:
        needs = ('\n      <p class="app-register__needs"><strong>Access needs:</strong>\n          '
                 + ("step-free access. " if line.needs_step_free else "")
                 + f"{escape(line.access_needs or '')}</p>")
    problems = "".join(f'\n      <p class="govuk-error-message app-register__error">{_ERROR_PREFIX}'
                       f"{escape(message)}</p>" for message in row_errors)
    marks = []
    for status, suffix, radio_rest, label_start, label_end in choices:
        field_id = f"{ref}-status{suffix}"
        checked = " checked" if line.status == status else ""
        marks.append(
            f'\n        <input class="app-choice__input" type="radio" id="{field_id}" '
            f'name="{ref}-status{radio_rest}{checked}>'
            f"\n        {label_start}{field_id}{label_end}")
    note_id = f"{ref}-participation_note"
    note_error = errors.get(f"{key}.participation_note")
    note_message = (f'\n            <p id="{note_id}-error" class="govuk-error-message">'
                    f"{_ERROR_PREFIX}{escape(note_error)}</p>") if note_error else ""
    return f"""
<li class="app-register__row{' app-register__row--error' if row_errors else ''}" id="person-{ref}"
    data-app-row="{ref}" data-status="{escape(line.status.value) if line.status else ''}"{' hidden' if hidden else ''}>
  <input type="hidden" name="{ref}-present" value="1">
  <div role="group" aria-labelledby="{ref}-name" class="app-register__person">
    <div class="app-register__who">
      <p class="app-register__name" id="{ref}-name">{name}</p>{needs}{problems}
      <p class="govuk-error-message app-register__error" data-app-row-problem hidden></p>
    </div>
    <div class="app-register__marks">{"".join(marks)}
      <span class="app-register__id">
        <input class="app-choice__input" type="checkbox" id="{ref}-id_checked" name="{ref}-id_checked"
               value="yes"{' checked' if line.id_checked else ''}>
        <label class="app-choice app-choice--id" for="{ref}-id_checked">ID checked</label>
      </span>
      <details class="app-register__more"{' open' if needs_more else ''}>
        <summary class="app-register__more-summary">More<span class="govuk-visually-hidden"> for {name}: arrival time, reason, note</span></summary>
        <div class="app-register__more-fields">{
            _text_field(f"{ref}-arrived_at", "Arrival time", "For example, 9:25", arrival,
                        errors.get(f"{key}.arrived_at"), "govuk-input--width-5")}{
            _text_field(f"{ref}-reason", "Reason or detail",
                        "If excused, why they could not come (needed). If they left early or "
                        "were removed, what happened", line.reason or "",
                        errors.get(f"{key}.reason"), None)}
          <div class="govuk-form-group{' govuk-form-group--error' if note_error else ''}">
            <label class="govuk-label govuk-label--s" for="{note_id}">How they took part (optional)</label>
            <div id="{note_id}-hint" class="govuk-hint">Your opinion, kept apart from the attendance record. It does not affect the outcome.</div>{note_message}
            <textarea class="govuk-textarea{' govuk-textarea--error' if note_error else ''}" id="{note_id}" name="{note_id}" rows="2" aria-describedby="{note_id}-hint{f' {note_id}-error' if note_error else ''}">{escape(line.participation_note or '')}</textarea>
          </div>
        </div>
      </details>
    </div>
  </div>
</li>"""  # noqa: E501


def register_rows(lines: Iterable[Line], statuses: Sequence[AttendanceStatus], *,
                  errors: Mapping[str, str], arrivals: Mapping[str, str],
                  only_unmarked: bool) -> Markup:
    """Every row of the register form (a row marked already is hidden when the page shows only
    those not yet marked: every row stays in the form, so saving leaves nobody out)."""
    choices = _status_choices(statuses)
    return Markup("".join(  # noqa: S704  (every value in the rows is escaped)
        _row(line, choices, errors, arrivals, hidden=only_unmarked and line.status is not None)
        for line in lines))
