"""Pages for police officers and programme managers: refer someone, follow a referral, lists.

Referring is three steps: the form, the match choice (only when someone on record may be this
person) and check-your-answers with every eligibility rule's result. The draft lives in the
database between steps (diversion.referrals.drafts), never in a URL nor in the cookie, which
is signed but not encrypted: the cookie holds only the draft's random token. The PIN is put in
the draft's one-time slot when issued: the confirmation page shows it once, and the offer letter
printed right after (within 30 minutes) carries it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from diversion.auth.access import acting_user, roles
from diversion.auth.models import Role, User
from diversion.core import csvout, parsing
from diversion.core import paging as pager
from diversion.core.dashboard import Line, Panel
from diversion.core.errors import Conflict, NotFound, ValidationFailed
from diversion.core.forms import attach_errors
from diversion.core.timeutils import london_today, now_utc
from diversion.core.transactions import discarded, savepoint
from diversion.core.web import short_day
from diversion.programmes import services as programme_services
from diversion.programmes.models import DEFAULT_OFFENCE_CODES
from diversion.referrals import (
    amending,
    contact,
    creation,
    drafts,
    intake,
    queries,
    reading,
    upload_views,
)
from diversion.referrals.forms import (
    CHANNEL_LABELS,
    OFFENCE_NAMES,
    ConfirmForm,
    ContactForm,
    FilterForm,
    PersonChoiceForm,
    ReferralForm,
    WithdrawForm,
)
from diversion.referrals.letters import render_offer_letter
from diversion.referrals.lifecycle import EVENT_LABELS
from diversion.referrals.models import ContactChannel, Referral, ReferralDraft, ReferralStatus
from diversion.referrals.rules import RuleResult

bp = Blueprint("referrals", __name__, url_prefix="/referrals")


# A referral's status as a GOV.UK tag, made once per status: a filter rather than a macro,
# because the list shows one a row and a macro call costs more than the row's other cells.
_STATUS_TAGS = {
    status: Markup('<strong class="govuk-tag govuk-tag--{}">{}</strong>').format(colour,
                                                                                status.label)
    for status, colour in {
        ReferralStatus.AWAITING_BOOKING: "blue", ReferralStatus.BOOKED: "turquoise",
        ReferralStatus.MISSED: "orange", ReferralStatus.COMPLETED: "green",
        ReferralStatus.NOT_COMPLETED: "red", ReferralStatus.WITHDRAWN: "grey",
    }.items()
}


@bp.app_template_filter("referral_status_tag")
def referral_status_tag(status: ReferralStatus) -> Markup:
    return _STATUS_TAGS[status]


bp.register_blueprint(upload_views.bp)

DRAFT_COOKIE_KEY = "referral_draft"  # the session key holding the draft's token, nothing else
NEW_PERSON = "new"
# Anchors for the Change links: GOV.UK date inputs focus their day box (the error summary
# links a date error to the box at fault itself).
ANCHORS = {"date_of_birth": "date_of_birth-day", "offence_date": "offence_date-day",
           "completion_deadline": "completion_deadline-day"}


# The draft -----------------------------------------------------------------------------------

def _token() -> str | None:
    token = session.get(DRAFT_COOKIE_KEY)
    return token if isinstance(token, str) else None


def _ensure_token() -> str:
    token = _token()
    if token is None:
        token = session[DRAFT_COOKIE_KEY] = drafts.new_token()
    return token


def _draft_row(now: dt.datetime) -> ReferralDraft | None:
    try:
        return drafts.find_draft(token=_token(), user=acting_user(), now=now)
    except NotFound:
        session.pop(DRAFT_COOKIE_KEY, None)  # someone else's: never theirs to use
        raise


def _draft() -> dict[str, Any] | None:
    row = _draft_row(now_utc())
    draft = row.data if row is not None else None
    return draft if isinstance(draft, dict) and isinstance(draft.get("form"), dict) else None


def _save_draft(draft: dict[str, Any], now: dt.datetime) -> None:
    drafts.save_draft(token=_ensure_token(), user=acting_user(), data=draft, now=now)


def _programme_codes() -> tuple[str | None, list[str]]:
    programmes = programme_services.list_programmes()
    if not programmes:
        return None, list(DEFAULT_OFFENCE_CODES)
    programme = programmes[0]
    return programme.code, list(programme.eligible_offence_codes)


def _referral_form(actor: User, formdata: Any = None, *, csrf: bool = True) -> ReferralForm:
    meta = {} if csrf else {"csrf": False}
    form = ReferralForm(formdata=formdata, meta=meta) if formdata is not None else ReferralForm(
        meta=meta)
    forces = None
    if actor.role is not Role.POLICE:
        forces = [(f.code, f.name) for f in queries.list_forces()]
    form.setup(offence_codes=_programme_codes()[1], forces=forces)
    return form


def _draft_form(actor: User, draft: dict[str, Any]) -> ReferralForm:
    form = _referral_form(actor, MultiDict(draft["form"]), csrf=False)
    form.validate()
    return form


def _input_from(form: ReferralForm, actor: User, now: dt.datetime) -> intake.ReferralInput:
    """The service's input from a form whose shape is valid."""
    is_police = actor.role is Role.POLICE
    return intake.ReferralInput(
        crime_reference=form.crime_reference.data or "",
        referral_date=london_today(now),
        family_name=form.family_name.data or "",
        given_names=form.given_names.data or "",
        date_of_birth=form.date_of_birth.data,
        offence_code=form.chosen_offence_code(),
        offence_date=form.offence_date.data,
        officer_email=actor.email if is_police else (form.officer_email.data or ""),
        admitted=form.admitted.data == "yes",
        consented=form.consented.data == "yes",
        no_relevant_convictions=form.no_relevant_convictions.data == "yes",
        force_code=None if is_police else (form.force_code.data or None),
        programme_code=_programme_codes()[0],
        pnc_id=form.pnc_id.data, gender=form.gender.data, email=form.email.data,
        mobile=form.mobile.data, address_line_1=form.address_line_1.data,
        address_line_2=form.address_line_2.data, town=form.town.data,
        postcode=form.postcode.data, preferred_contact=form.preferred_contact.data,
        access_needs=form.access_needs.data, needs_step_free=bool(form.needs_step_free.data),
        language_needs=form.language_needs.data, offence_time=form.offence_time.time,
        offence_location=form.offence_location.data, disposal=form.disposal.data,
        completion_deadline=form.completion_deadline.data,
    )


def _attach(form: ReferralForm, error: ValidationFailed | Conflict) -> None:
    if isinstance(error, Conflict):
        error = ValidationFailed({error.field or "crime_reference": error.message})
    errors = dict(error.errors)
    if "offence_code" in errors and form.offence_code.data == "other":
        errors["offence_code_other"] = errors.pop("offence_code")
    # A field the form already found wrong keeps its own message (a date that is not a date is
    # not also "Enter the date").
    attach_errors(form, ValidationFailed({
        name: message for name, message in errors.items()
        if not getattr(getattr(form, name, None), "errors", None)}))


def _render_form(form: ReferralForm, status: int = 200, *, refused: bool = False) -> Any:
    """The form; `refused` when an answer means the person cannot be referred, so the officer
    is told what that means and what to do next, not only what to correct."""
    return render_template("referrals/new.html", form=form, refused=refused,
                           has_draft=_draft() is not None), status


# Referring -----------------------------------------------------------------------------------

@bp.route("/new", methods=["GET", "POST"])
@roles(Role.POLICE, Role.MANAGER)
def new_referral() -> Any:
    """The form: the person, the offence and the disposal. Prefilled from the draft."""
    actor = acting_user()
    if request.method == "GET":
        draft = _draft()
        form = _draft_form(actor, draft) if draft else _referral_form(actor)
        if draft:
            form.form_errors.clear()
            for field in form:
                field.errors = []
        return _render_form(form)
    form = _referral_form(actor)
    is_valid = form.validate_on_submit()
    now = now_utc()
    # One round: the form's own errors, the service's and the eligibility refusals together.
    with discarded():
        problems = creation.problems_with(
            data=_input_from(form, actor, now), actor=actor, now=now,
            invalid={field.name for field in form if field.errors})
    if problems or not is_valid:
        _attach(form, ValidationFailed(problems))
        return _render_form(form, 400, refused=bool(problems.refused))
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    try:
        with discarded():
            preview = creation.preview_referral(data=_input_from(form, actor, now), actor=actor,
                                                now=now, new_person=True)
    except (ValidationFailed, Conflict) as error:
        _attach(form, error)
        return _render_form(form, 400)
    # A new answer about who the person is means choosing again.
    _save_draft({"form": values, "person_id": None, "new_person": not preview.matches}, now)
    if preview.matches:
        return redirect(url_for("referrals.choose_person"))
    return redirect(url_for("referrals.check_referral"))


@bp.route("/new/discard", methods=["GET", "POST"])
@roles(Role.POLICE, Role.MANAGER)
def discard_draft() -> Any:
    """GET: check before clearing what was typed; POST: clear the draft."""
    if request.method == "GET":
        if _draft() is None:
            return redirect(url_for("referrals.new_referral"))
        return render_template("referrals/discard.html", form=ConfirmForm())
    if not ConfirmForm().validate_on_submit():
        abort(400)
    drafts.clear_draft(token=_token(), user=acting_user(), now=now_utc())
    flash("The form has been cleared", "info")
    return redirect(url_for("referrals.new_referral"))


def _draft_or_restart() -> dict[str, Any] | None:
    draft = _draft()
    if draft is None:
        flash("Fill in the referral form first", "info")
    return draft


@bp.route("/new/person", methods=["GET", "POST"])
@roles(Role.POLICE, Role.MANAGER)
def choose_person() -> Any:
    """Someone on record may be this person: the officer says whether it is the same person."""
    actor = acting_user()
    draft = _draft_or_restart()
    if draft is None:
        return redirect(url_for("referrals.new_referral"))
    now = now_utc()
    form_data = _draft_form(actor, draft)
    try:
        with discarded():
            preview = creation.preview_referral(data=_input_from(form_data, actor, now), actor=actor,
                                                now=now, new_person=True)
    except (ValidationFailed, Conflict):
        return redirect(url_for("referrals.new_referral"))
    if not preview.matches:
        draft.update(person_id=None, new_person=True)
        _save_draft(draft, now)
        return redirect(url_for("referrals.check_referral"))
    form = PersonChoiceForm()
    form.person.choices = [(str(m.person.id), m.person.full_name) for m in preview.matches] + [
        (NEW_PERSON, "A different person")]
    if request.method == "GET" and (draft.get("person_id") or draft.get("new_person")):
        form.person.data = str(draft["person_id"]) if draft.get("person_id") else NEW_PERSON
    if form.validate_on_submit():
        chosen = form.person.data
        draft.update(person_id=None if chosen == NEW_PERSON else int(chosen or 0),
                     new_person=chosen == NEW_PERSON)
        _save_draft(draft, now)
        return redirect(url_for("referrals.check_referral"))
    reading.record_matches_shown(person_ids=[m.person.id for m in preview.matches], actor=actor,
                                 now=now)
    return render_template("referrals/choose_person.html", form=form, matches=preview.matches,
                           entered=form_data, new_person=NEW_PERSON), 400 if form.errors else 200


def _summary(form: ReferralForm, actor: User) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """The answers as (section, [(label, value, anchor)]) for check-your-answers."""

    def day(field: Any) -> str:
        return field.data.strftime("%-d %B %Y") if field.data else "Not given"

    def text(value: Any) -> str:
        return str(value).strip() if value and str(value).strip() else "Not given"

    def mobile(value: str | None) -> str:
        # As it will be kept (and texted): "07700 900982" is +447700900982.
        try:
            return intake.normalise_mobile(value.strip()) if value and value.strip() else text(value)
        except ValueError:
            return text(value)

    contact = form.preferred_contact.data
    postcode = form.postcode.data or ""
    address = ", ".join(v for v in (form.address_line_1.data, form.address_line_2.data,
                                    form.town.data,
                                    parsing.normalise_postcode(postcode) or postcode.upper()) if v)
    offence = form.chosen_offence_code()
    person = [
        ("Family name", text(form.family_name.data), "family_name"),
        ("Given names", text(form.given_names.data), "given_names"),
        ("Date of birth", day(form.date_of_birth), ANCHORS["date_of_birth"]),
        ("PNC ID", text(form.pnc_id.data), "pnc_id"),
        ("Gender", text(form.gender.data), "gender"),
    ]
    contact_rows = [
        ("Contact by", CHANNEL_LABELS[ContactChannel(contact)] if contact else "Not given",
         "preferred_contact"),
        ("Email address", text(form.email.data), "email"),
        ("Mobile phone number", mobile(form.mobile.data), "mobile"),
        ("Address", text(address), "address_line_1"),
        ("Step-free access", "Needed" if form.needs_step_free.data else "Not needed",
         "needs_step_free"),
        ("Other access needs", text(form.access_needs.data), "access_needs"),
        ("Language needs", text(form.language_needs.data), "language_needs"),
    ]
    offence_rows = [
        ("Offence", f"{OFFENCE_NAMES.get(offence, offence)}", "offence_code"),
        ("Date of the offence", day(form.offence_date), ANCHORS["offence_date"]),
        ("Time of the offence", text(form.offence_time.data), "offence_time"),
        ("Where", text(form.offence_location.data), "offence_location"),
        ("Crime reference", text((form.crime_reference.data or "").upper()), "crime_reference"),
        ("Disposal", text(form.disposal.data), "disposal"),
        ("Admitted the offence", "Yes" if form.admitted.data == "yes" else "No", "admitted"),
        ("Consented to the diversion", "Yes" if form.consented.data == "yes" else "No",
         "consented"),
        ("Relevant previous convictions",
         "None: checked by the officer" if form.no_relevant_convictions.data == "yes"
         else "Yes", "no_relevant_convictions"),
        ("Completion deadline", day(form.completion_deadline) if form.completion_deadline.data
         else "4 months after the offence", ANCHORS["completion_deadline"]),
    ]
    sections = [("The person", person), ("Contact and needs", contact_rows),
                ("The offence", offence_rows)]
    if actor.role is not Role.POLICE:
        sections.append(("Referred by", [
            ("Police force", text(next((c.label for c in form.force_code.choices or []
                                        if c.value and c.value == form.force_code.data), None)),
             "force_code"),
            ("Referring officer", text(form.officer_email.data), "officer_email"),
        ]))
    return sections


@bp.route("/new/check", methods=["GET", "POST"])
@roles(Role.POLICE, Role.MANAGER)
def check_referral() -> Any:
    """Check your answers, with every eligibility rule's result; then make the referral."""
    actor = acting_user()
    draft = _draft_or_restart()
    if draft is None:
        return redirect(url_for("referrals.new_referral"))
    now = now_utc()
    form = _draft_form(actor, draft)
    data = _input_from(form, actor, now)
    person_id, new_person = draft.get("person_id"), bool(draft.get("new_person"))
    confirm = ConfirmForm()
    if request.method == "POST" and confirm.validate_on_submit():
        try:
            with savepoint():
                created = creation.create_referral(data=data, actor=actor, now=now,
                                                   person_id=person_id, new_person=new_person)
        except creation.IneligibleReferral:
            pass  # shown below, from the preview
        except (ValidationFailed, Conflict) as error:
            _attach(form, error)
            return _render_form(form, 400)
        else:
            drafts.clear_draft(token=_token(), user=actor, now=now)
            drafts.put_pin(token=_ensure_token(), user=actor,
                           reference=created.referral.reference, pin=created.pin, now=now)
            return redirect(url_for("referrals.referral_issued",
                                    reference=created.referral.reference))
    try:
        with discarded():
            preview = creation.preview_referral(data=data, actor=actor, now=now,
                                                person_id=person_id, new_person=new_person)
    except (ValidationFailed, Conflict) as error:
        _attach(form, error)
        return _render_form(form, 400)
    if preview.matches and person_id is None and not new_person:
        return redirect(url_for("referrals.choose_person"))
    linked = next((m.person for m in preview.matches if m.person.id == person_id), None)
    eligible = not any(r.blocking and not r.passed for r in preview.eligibility)
    status = 200 if eligible or request.method == "GET" else 422
    return render_template(
        "referrals/check.html", sections=_summary(form, actor), results=preview.eligibility,
        eligible=eligible, linked=linked, has_matches=bool(preview.matches), form=confirm,
    ), status


# The PIN slot ----------------------------------------------------------------------------------

@bp.get("/<reference>/issued")
@roles(Role.POLICE, Role.MANAGER)
def referral_issued(reference: str) -> Any:
    """The reference and the PIN (once), the deadlines, and the offer letter."""
    actor, now = acting_user(), now_utc()
    referral = reading.read_referral_audited(reference=reference, actor=actor, now=now)
    _draft_row(now)  # another user's token is a 404
    pin, letter_has_pin = drafts.show_pin(token=_token(), user=actor,
                                          reference=referral.reference, now=now)
    return render_template("referrals/issued.html", referral=referral, pin=pin,
                           letter_has_pin=letter_has_pin, form=ConfirmForm(),
                           reissued=request.args.get("reissued") == "1",
                           results=_results(referral))


@bp.route("/<reference>/pin", methods=["GET", "POST"])
@roles(Role.POLICE, Role.MANAGER)
def reissue_pin(reference: str) -> Any:
    """GET: what a new PIN means (the old one stops working, the letter must be given again),
    with the button. POST: a new PIN, shown once on the next page."""
    actor, now = acting_user(), now_utc()
    if request.method == "GET":
        referral = reading.read_referral_audited(reference=reference, actor=actor, now=now)
        if not referral.is_open:
            flash("A new PIN can be issued only while the referral is open", "error")
            return redirect(url_for("referrals.show_referral", reference=referral.reference))
        return render_template("referrals/reissue_pin.html", referral=referral,
                               form=ConfirmForm())
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        with savepoint():
            referral, pin = amending.reissue_pin(reference=reference, actor=actor, now=now)
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("referrals.show_referral", reference=reference))
    drafts.put_pin(token=_ensure_token(), user=actor, reference=referral.reference, pin=pin,
                   now=now)
    return redirect(url_for("referrals.referral_issued", reference=referral.reference,
                            reissued="1"))


@bp.get("/<reference>/letter.pdf")
@roles(Role.POLICE, Role.MANAGER)
def offer_letter(reference: str) -> Any:
    """The offer letter as a PDF; it carries the PIN only right after the PIN was issued."""
    actor, now = acting_user(), now_utc()
    referral = reading.read_referral_audited(reference=reference, actor=actor, now=now)
    if not referral.is_open:
        # An offer that ended is no offer: a letter printed now would invite him to book one.
        flash("This referral has ended, so there is no offer letter to print", "info")
        return redirect(url_for("referrals.show_referral", reference=referral.reference))
    _draft_row(now)  # another user's token is a 404
    pin = drafts.take_pin(token=_token(), user=actor, reference=referral.reference, now=now)
    pdf = render_offer_letter(referral, pin=pin, now=now)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="offer-{referral.reference}.pdf"'})


# A referral ----------------------------------------------------------------------------------

def _results(referral: Referral) -> list[RuleResult]:
    return [RuleResult(**{k: r[k] for k in ("code", "passed", "blocking", "message")})
            for r in referral.eligibility or []]


def _can_change(actor: User, referral: Referral) -> bool:
    return actor.role in (Role.POLICE, Role.MANAGER) and referral.is_open


@bp.get("/<reference>")
@roles(Role.POLICE, Role.MANAGER)
def show_referral(reference: str) -> Any:
    actor, now = acting_user(), now_utc()
    referral = reading.read_referral_audited(reference=reference, actor=actor, now=now)
    booking_url = (url_for("bookings.referral_booking", reference=referral.reference)
                   if actor.role is Role.MANAGER and "bookings.referral_booking"
                   in current_app.view_functions else None)
    return render_template("referrals/show.html", referral=referral, results=_results(referral),
                           **page_context_from_other_features(referral),
                           booking_url=booking_url,
                           events=referral.events, event_labels=EVENT_LABELS,
                           actors=queries.user_names([e.actor_user_id for e in referral.events]),
                           can_change=_can_change(actor, referral), form=ConfirmForm(),
                           contact_refusal=contact.contact_change_refusal(referral, actor),
                           failed_to_send_again=contact.failed_messages_to_send_again(
                               referral=referral, now=now),
                           channel_labels=CHANNEL_LABELS, offence_names=OFFENCE_NAMES)


@bp.route("/<reference>/withdraw", methods=["GET", "POST"])
@roles(Role.POLICE, Role.MANAGER)
def withdraw_referral(reference: str) -> Any:
    actor, now = acting_user(), now_utc()
    referral = reading.read_referral_audited(reference=reference, actor=actor, now=now)
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            with savepoint():
                amending.withdraw_referral(reference=referral.reference, reason=form.reason.data or "",
                                           actor=actor, now=now)
        except ValidationFailed as error:
            attach_errors(form, error)
        else:
            flash(f"The offer to {referral.reference} has been withdrawn", "success")
            return redirect(url_for("referrals.show_referral", reference=referral.reference))
    if not referral.is_open:
        flash("This referral has ended, so it cannot be withdrawn", "info")
        return redirect(url_for("referrals.show_referral", reference=referral.reference))
    return render_template("referrals/withdraw.html", referral=referral,
                           form=form), 400 if form.errors else 200


_CONTACT_WORDS = {"email": "email address", "mobile": "mobile phone number",
                  "preferred_contact": "way to contact them"}


def _contact_changed_words(change: contact.ContactChange) -> str:
    """What a correction changed, for the success banner: the fields' names, never their new
    values (a banner waits in the session cookie, which is signed, not sealed)."""
    names = [_CONTACT_WORDS[name] for name in change.changed]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    text = f"Contact details saved for {change.referral.reference}: {listed} changed."
    if change.readdressed:
        text += (f" {change.readdressed} message{'s' if change.readdressed != 1 else ''} waiting "
                 "to be sent will go to the new details.")
    if change.cancelled:
        many = change.cancelled != 1
        text += (f" {change.cancelled} message{'s' if many else ''} waiting to be sent "
                 f"{'were' if many else 'was'} cancelled: there is no email address or mobile "
                 f"number to send {'them' if many else 'it'} to.")
    return text


@bp.route("/<reference>/contact", methods=["GET", "POST"])
@roles(Role.POLICE, Role.MANAGER)
def change_contact(reference: str) -> Any:
    """Correct the person's email address, mobile number and way of contact."""
    actor, now = acting_user(), now_utc()
    try:
        referral = contact.changeable_referral(reference, actor)
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("referrals.show_referral", reference=reference))
    person = referral.person
    form = ContactForm() if request.method == "POST" else ContactForm(data={
        "email": person.email, "mobile": person.mobile,
        "preferred_contact": person.preferred_contact.value,
        "shown": contact.shown_version(person)})
    if request.method == "POST":
        is_valid = form.validate_on_submit()
        try:
            if is_valid:
                with savepoint():
                    change = contact.change_contact_details(
                        reference=referral.reference, email=form.email.data,
                        mobile=form.mobile.data, preferred_contact=form.preferred_contact.data,
                        shown=form.shown.data, actor=actor, now=now)
            else:  # intake's checks too, so every problem is named in one round
                contact.check_contact_details(
                    person=person, email=form.email.data, mobile=form.mobile.data,
                    preferred_contact=form.preferred_contact.data)
        except ValidationFailed as error:
            # One round: the form's own errors and intake's checks together; a field the form
            # already found wrong keeps its own message.
            attach_errors(form, ValidationFailed({
                name: message for name, message in error.errors.items()
                if not getattr(getattr(form, name, None), "errors", None)}))
        except Conflict as error:
            # Changed by someone else since this page was opened: the page shows what is on
            # record now, keeps what he typed, and saves it only when he sends it again.
            form.form_errors.append(error.message)
            form.shown.data = contact.shown_version(person)
        else:
            if is_valid:
                if change.changed:
                    flash(_contact_changed_words(change), "success")
                else:
                    flash("Nothing was changed: the contact details are as they were", "info")
                return redirect(url_for("referrals.show_referral", reference=referral.reference))
    address = ", ".join(v for v in (person.address_line_1, person.address_line_2, person.town,
                                    person.postcode) if v)
    contact.record_contact_view(referral=referral, actor=actor, now=now)
    return render_template("referrals/contact.html", referral=referral, form=form,
                           address=address, channel_labels=CHANNEL_LABELS), \
        (409 if form.form_errors else 400) if form.errors or form.form_errors else 200


# Lists ---------------------------------------------------------------------------------------

PAGING_ARGS = ("page", "after", "before")  # where a page is; the rest (filters, sort) travels
MAX_WINDOW_DAYS = 366


def referral_filters(args: Any, actor: User) -> tuple[FilterForm, queries.ReferralFilters]:
    """The list's filter form and filters from a query string: the one place filters are
    parsed (the page and the CSV both use it). A field in error is left out; the others apply."""
    form = FilterForm(args)
    forces = [] if actor.role is Role.POLICE else queries.force_names()
    form.force.choices = [("", "Any force")] + [(str(fid), name) for fid, name in forces]
    form.programme.choices = [("", "Any programme")] + [
        (str(pid), name) for pid, name in programme_services.programme_names()]
    if actor.role is Role.POLICE:
        form.force.data = ""  # his own force's list: the field is not shown, nor read
    form.validate()

    def ok(field: Any) -> bool:
        return not field.errors

    force_id = None
    if actor.role is not Role.POLICE and form.force.data and ok(form.force):
        force_id = parsing.query_int(form.force.data)
    status = (ReferralStatus(form.status.data)
              if ok(form.status) and form.status.data else None)
    filters = queries.ReferralFilters(
        status=status, force_id=force_id,
        programme_id=(parsing.query_int(form.programme.data)
                      if form.programme.data and ok(form.programme) else None),
        referred_from=form.referred_from.data if ok(form.referred_from) else None,
        referred_to=form.referred_to.data if ok(form.referred_to) else None,
        deadline_soon=bool(form.deadline_soon.data), mine=bool(form.mine.data),
        search=(form.q.data or "").strip() if ok(form.q) else "",
        # The dashboard's filters (links, not fields of the form): see _list_args.
        booking_due_within_days=parsing.query_int(args.get("booking_due_within_days"),
                                                  minimum=0, maximum=MAX_WINDOW_DAYS),
        closed_within_days=parsing.query_int(args.get("closed_within_days"),
                                             minimum=0, maximum=MAX_WINDOW_DAYS))
    return form, filters


# What werkzeug quotes in a URL's query string (werkzeug.urls._urlencode): a page of the list
# makes nine URLs of itself, so its path is built once and each query string joined to it.
_QUERY_SAFE = "!$'()*,/:;?@"


def _list_url(endpoint: str, extra: dict[str, Any], *, path: str | None = None) -> str:
    """The list's URL with the request's filters and sort, and `extra` (a page, a sort):
    `url_for(endpoint, **args)`, the endpoint's `path` given when the caller has it."""
    args: dict[str, Any] = {k: v for k, v in request.args.items(multi=False)
                            if k not in PAGING_ARGS}
    args.update({k: v for k, v in extra.items() if v is not None})
    path = path if path is not None else url_for(endpoint)
    return f"{path}?{urlencode(args, safe=_QUERY_SAFE)}" if args else path


@bp.get("")
@roles(Role.POLICE, Role.MANAGER)
def list_referrals() -> Any:
    """Referrals the user may see, filtered, searched and sorted, a page at a time (docs/DESIGN.md,
    "Staff lists" and "The referrals list")."""
    actor, now = acting_user(), now_utc()
    form, filters = referral_filters(request.args, actor)
    ordering = pager.Ordering.from_args(request.args, queries.SORTS, queries.DEFAULT_SORT)
    try:
        page = queries.referral_page(actor=actor, filters=filters, ordering=ordering,
                                     args=request.args, today=london_today(now))
    except pager.InvalidCursor:
        raise NotFound(pager.NO_SUCH_PAGE) from None
    path = url_for("referrals.list_referrals")
    page.with_links(lambda extra: _list_url("referrals.list_referrals", extra, path=path))
    queries.record_list_read(actor=actor, filters=filters, ordering=ordering, page=page, now=now)

    def sort_href(key: str, order: str | None) -> str:
        return _list_url("referrals.list_referrals", {"sort": key, "order": order}, path=path)

    is_police = actor.role is Role.POLICE
    return render_template(
        "referrals/list.html", page=page, form=form, ordering=ordering, sort_href=sort_href,
        rows=_list_rows(page.items, is_police=is_police, referral_href=url_for(
            "referrals.show_referral", reference="_").removesuffix("_")),
        csv_href=_list_url("referral_exports.referrals_csv", {}),
        is_police=is_police,
        filtered=not filters.is_empty, link_filters=_link_filters(filters),
        more_open=bool(form.errors) or any(
            (filters.status, filters.force_id, filters.programme_id, filters.referred_from,
             filters.referred_to, filters.deadline_soon)),
    ), 400 if form.errors else 200


def _list_rows(items: list[Any], *, referral_href: str, is_police: bool) -> Markup:
    """The list's table rows, made here rather than by the template: the same markup (the
    template's loop made 25 rows cost more than the rest of the page), each value escaped once,
    each date formatted once. A row's link is the referral address with its reference appended
    (references are letters and digits of reading.REFERENCE_ALPHABET: nothing to quote)."""
    days: dict[Any, str] = {}

    def day(value: dt.date | None) -> str:
        text = days.get(value)
        if text is None:
            text = days[value] = short_day(value)
        return text

    href = escape(referral_href)
    parts = []
    for r in items:
        reference = escape(r.reference)
        name = f"{escape(r.family_name.upper())}, {escape(r.given_names)}"
        force = ("\n      " if is_police else
                 f'\n      <td class="govuk-table__cell" data-label="Force">{escape(r.force_code)}</td>')
        parts.append(
            f"""
    <tr class="govuk-table__row">
      <td class="govuk-table__cell" data-label="Name">
        <a class="govuk-link" href="{href}{reference}">{name}</a>
        <br><span class="govuk-body-s app-secondary-text" data-reference>{reference}</span>
      </td>
      <td class="govuk-table__cell" data-label="Referred">{day(r.referral_date)}</td>{force}
      <td class="govuk-table__cell" data-label="Book by">{day(r.booking_deadline)}</td>
      <td class="govuk-table__cell" data-label="Status">{_STATUS_TAGS[r.status]}</td>
    </tr>
  """)
    return Markup("".join(parts))  # noqa: S704  (every value above is escaped)


exports_bp = Blueprint("referral_exports", __name__)


@exports_bp.get("/referrals.csv")
@roles(Role.POLICE, Role.MANAGER)
def referrals_csv() -> Any:
    """The list's filtered rows, in its order, as CSV (docs/DESIGN.md, "CSV: referrals"); at
    most queries.MAX_EXPORT_ROWS rows, and the response says when it was cut."""
    actor, now = acting_user(), now_utc()
    form, filters = referral_filters(request.args, actor)
    if form.errors:
        return redirect(_list_url("referrals.list_referrals", {}))
    ordering = pager.Ordering.from_args(request.args, queries.SORTS, queries.DEFAULT_SORT)
    rows = list(queries.export_rows(actor=actor, filters=filters, ordering=ordering,
                                    today=london_today(now)))
    cut = len(rows) > queries.MAX_EXPORT_ROWS
    rows = rows[:queries.MAX_EXPORT_ROWS]
    queries.record_export(actor=actor, filters=filters, ordering=ordering,
                          referral_ids=[row.referral_id for row in rows], cut=cut, now=now)
    document = csvout.to_csv(
        queries.EXPORT_COLUMNS,
        ([getattr(row, c) for c in queries.EXPORT_COLUMNS] for row in rows), bom=True)
    headers = {"Content-Disposition": 'attachment; filename="referrals.csv"',
               "Cache-Control": "no-store", "X-Rows": str(len(rows))}
    if cut:
        headers["X-Rows-Cut"] = f"only the first {queries.MAX_EXPORT_ROWS:,} rows"
    return Response(document, content_type="text/csv; charset=utf-8", headers=headers)


def _link_filters(filters: queries.ReferralFilters) -> tuple[dict[str, Any], list[str]]:
    """The dashboard's filters the list is showing: kept as hidden fields by the filter form,
    and said in words above the table."""
    args = {k: v for k, v in _list_args(filters).items() if k not in ("status", "mine")}
    words = []
    if filters.booking_due_within_days is not None:
        words.append(f"not booked, booking deadline within {filters.booking_due_within_days} days")
    if filters.closed_within_days is not None:
        words.append(f"closed in the last {filters.closed_within_days} days")
    return args, words


# Dashboard -------------------------------------------------------------------------------------

DUE_WITHIN_DAYS = 7  # "must book within a week": the dashboard's window on booking deadlines
RECENT_DAYS = 14  # outcomes returned to the police in the last fortnight


def police_referrals_panel(user: User, now: dt.datetime) -> Panel:
    """What the officer's force must follow up: people who must book soon, courses not
    completed lately (the caution's alternative), and his own referrals still to book."""
    today = london_today(now)
    due = queries.ReferralFilters(booking_due_within_days=DUE_WITHIN_DAYS)
    failed = queries.ReferralFilters(status=ReferralStatus.NOT_COMPLETED,
                                     closed_within_days=RECENT_DAYS)
    mine = queries.ReferralFilters(status=ReferralStatus.AWAITING_BOOKING, mine=True)
    return Panel("Your force's referrals needing attention", [
        _line(f"Not booked, booking deadline within {DUE_WITHIN_DAYS} days", user, due, today),
        _line(f"Did not complete the course (last {RECENT_DAYS} days)", user, failed, today),
        _line("Referred by you, not booked yet", user, mine, today),
    ], action=Line("Refer someone", None, "referrals.new_referral"))


def manager_referrals_panel(user: User, now: dt.datetime) -> Panel:
    """People who must book within the week, and those who missed their session and may still
    be excused (the grace window: the sweep closes a miss when it ends)."""
    today = london_today(now)
    due = queries.ReferralFilters(booking_due_within_days=DUE_WITHIN_DAYS)
    missed = queries.ReferralFilters(status=ReferralStatus.MISSED)
    return Panel("Referrals", [
        _line(f"Not booked, booking deadline within {DUE_WITHIN_DAYS} days", user, due, today),
        _line("Missed their session, an excuse can still be accepted", user, missed, today),
    ])


def imports_panel(user: User, now: dt.datetime) -> Panel:
    """A CSV import checked but not confirmed is not kept anywhere that can be listed (the file
    waits an hour under a name only its preview page knows), so this is a way in, not a count."""
    return Panel("Importing referrals", [Line("Import referrals from a CSV file", None,
                                              "referrals.imports.upload")],
                 description="A file you checked but did not confirm is not imported; it is "
                             "kept for an hour only. Upload it again to import it.")


def referrals_summary_panel(user: User, now: dt.datetime) -> Panel:
    """The open referrals by status (the open ones only: never a count over the history)."""
    today = london_today(now)
    return Panel("Open referrals", [
        _line(status.label, user, queries.ReferralFilters(status=status), today, none_text="None")
        for status in (ReferralStatus.AWAITING_BOOKING, ReferralStatus.BOOKED)
    ], summary=True)


def _line(label: str, user: User, filters: queries.ReferralFilters, today: dt.date,
          none_text: str = "Nothing to do") -> Line:
    return Line(label, queries.count_referrals_query(user, filters, today=today),
                "referrals.list_referrals", _list_args(filters), none_text=none_text)


def _list_args(filters: queries.ReferralFilters) -> dict[str, Any]:
    """The query string of the list page that shows exactly these filters (see _filters)."""
    args: dict[str, Any] = {}
    if filters.status is not None:
        args["status"] = filters.status.value
    if filters.booking_due_within_days is not None:
        args["booking_due_within_days"] = filters.booking_due_within_days
    if filters.closed_within_days is not None:
        args["closed_within_days"] = filters.closed_within_days
    if filters.mine:
        args["mine"] = "y"
    return args


PageContext = Callable[[Referral], dict[str, Any]]
_PAGE_CONTEXT = "diversion.referral_page_context"


def add_page_context(app: Flask, context: PageContext) -> None:
    """Let a feature built on referrals show its part of the referral page: `context(referral)`
    gives template variables (bookings adds the place and the fee)."""
    app.extensions.setdefault(_PAGE_CONTEXT, []).append(context)


def page_context_from_other_features(referral: Referral) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for context in current_app.extensions.get(_PAGE_CONTEXT, []):
        values.update(context(referral))
    return values
