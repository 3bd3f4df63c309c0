"""The form macros written out as GOV.UK markup (templates/_macros/form.html, courses/_macros.html's
date_input) make what GOV.UK Frontend's own macros make (tests/govuk_reference_macros.html: the
macros as they were, through govuk-frontend-jinja), for every option, with and without errors."""

import itertools
import re
from pathlib import Path

from wtforms import BooleanField, Form, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from diversion.core.forms import DatePartsField
from diversion.referrals.models import ReferralStatus

REFERENCE = (Path(__file__).parent / "govuk_reference_macros.html").read_text()
CALLS = ('{{ select(f.status, **kw) }}{{ input(f.q, **kw) }}{{ checkbox(f.mine, **kw) }}'
         '{{ textarea(f.note, **kw) }}{{ button("Apply <now>", classes="govuk-button--secondary",'
         ' name="action", value="save") }}{{ date_input(f.day, small=small) }}')


def _same(html: str) -> str:
    html = re.sub(r"\s+", " ", html)
    return re.sub(r"\s*>\s*", ">", re.sub(r"\s+<", "<", html)).strip()


class Fields(Form):
    status = SelectField("Status", choices=[SelectChoice("", "Any"), SelectChoice("a", "A <b>"),
                                              SelectChoice("1", "B")])
    q = StringField("Name <or> reference")
    mine = BooleanField("Only mine")
    note = TextAreaField("Note")
    day = DatePartsField("Referred from")


def test_the_written_out_macros_make_the_components_markup(app):
    env = app.jinja_env
    ours = env.from_string('{% from "_macros/form.html" import input, select, checkbox, textarea,'
                           ' button %}{% from "courses/_macros.html" import date_input %}' + CALLS)
    theirs = env.from_string(REFERENCE + CALLS)
    compared = 0
    for data, errors, options in itertools.product(
            [{}, {"status": "a", "q": 'x"y<', "mine": True, "note": "n <x>"}], [False, True],
            [{}, {"label": "L", "hint": "H"}]):
        form = Fields(data=data)
        if errors:
            for field in form:
                field.errors = ["Bad <one>"]
        with app.test_request_context():
            assert _same(ours.render(f=form, kw=options, small=bool(options))) == _same(
                theirs.render(f=form, kw=options, small=bool(options))), (data, errors, options)
        compared += 1
    assert compared == 8


def test_the_referral_status_tag_filter_makes_govuk_tag_markup(app):
    theirs = app.jinja_env.from_string(
        '{% from "govuk_frontend_jinja/components/tag/macro.html" import govukTag %}'
        '{{ govukTag({"text": s.label, "classes": classes}) }}')
    ours = app.jinja_env.from_string("{{ s|referral_status_tag }}")
    colours = {"awaiting_booking": "blue", "booked": "turquoise", "missed": "orange",
               "completed": "green", "not_completed": "red", "withdrawn": "grey"}
    assert set(colours) == {s.value for s in ReferralStatus}
    for status in ReferralStatus:
        assert _same(ours.render(s=status)) == _same(theirs.render(
            s=status, classes=f"govuk-tag--{colours[status.value]}")), status
